"""Audio analysis (``analysis``): beats as key frames, per-frame loudness, audio-driven
timing and the waveform. Decoding a file is ``studio.media.audio``'s job."""
