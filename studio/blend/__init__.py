"""studio.blend.render."""
