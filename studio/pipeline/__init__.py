"""studio.pipeline."""
