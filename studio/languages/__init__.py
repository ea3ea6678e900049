"""studio.languages."""
