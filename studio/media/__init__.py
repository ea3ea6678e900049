"""Media I/O of the engine: ffmpeg (``ffmpeg``), the STUDIO_HOME rule for media paths
(``paths``), inputs (``inputs``: video and image, ``audio``: soundtracks), output writers and
readers, render checkpoints and colour matching. Nothing here knows about models."""
