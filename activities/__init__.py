"""Side effects a workflow asks for: database units of work and provider calls."""
