"""Pure rules of the Municipal Mynapoint programme: no I/O, no framework imports."""
