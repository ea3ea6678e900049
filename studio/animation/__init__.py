"""studio.animation."""
