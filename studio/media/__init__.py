"""studio.media.inputs."""
