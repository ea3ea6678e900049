"""studio.audio.analysis."""
