"""How builtin:shapes was made: not imported by the product."""
