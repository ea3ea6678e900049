"""training.shapes."""
