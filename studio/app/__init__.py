"""studio.app."""
