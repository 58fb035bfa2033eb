"""The scenarios of `mph bench`: each runs on an open stack and returns its figures."""
