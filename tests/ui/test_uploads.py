"""Dashboard uploads (ui/uploads.py): stored under the session's inputs only once checked.

The dashboard passes Streamlit's ``UploadedFile``; a small object with the same attributes
(``name``, ``file_id``, ``getvalue``) stands in for it. Checks, store and files are real.
"""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from db import Store
from studio.errors import MediaError
from studio.media.audio import check_audio
from studio.media.inputs import probe_image, probe_video
from ui.uploads import save_upload


class Upload:
    """What ``st.file_uploader`` returns, as far as ``save_upload`` reads it."""

    def __init__(self, name: str, data: bytes):
        self.name = name
        self.file_id = f"id-{name}"
        self._data = data

    def getvalue(self) -> bytes:
        return self._data

    def read(self) -> bytes:
        return self._data


def good_wav(tmp_path) -> bytes:
    path = tmp_path / "tone.wav"
    sf.write(path, np.sin(np.linspace(0, 400, 22050)).astype(np.float32), 22050)
    return path.read_bytes()


@pytest.mark.parametrize(
    ("name", "check", "words"),
    [
        ("My Song.wav", check_audio, "cannot be read as wav"),
        ("My Song.mp3", check_audio, "cannot be read as mp3"),
        ("holiday clip.mp4", probe_video, "not a video ffmpeg can read"),
        ("cover art.png", probe_image, "not an image file PIL can read"),
    ],
)
def test_a_broken_upload_is_named_as_uploaded_once_and_leaves_nothing(
    studio_home, name, check, words
):
    kind = "audio" if check is check_audio else "video" if check is probe_video else "image"
    broken = Upload(name, b"this is not a media file\n" * 40)
    with pytest.raises(MediaError) as info:
        save_upload(broken, "default", kind, check=check)
    message = str(info.value)
    assert words in message
    assert message.count(name) == 1, message
    assert ".part-" not in message and str(studio_home) not in message
    inputs = studio_home / "inputs"
    assert not inputs.exists() or not any(inputs.rglob("*")), list(inputs.rglob("*"))
    with Store.open(studio_home).session() as s:
        from db.repository import get_session

        with pytest.raises(LookupError):
            get_session(s, "default")


def test_a_refused_upload_next_to_stored_ones_leaves_only_those(studio_home, tmp_path):
    stored = save_upload(
        Upload("tone.wav", good_wav(tmp_path)), "default", "audio", check=check_audio
    )
    assert (studio_home / stored).is_file()
    with pytest.raises(MediaError, match="cannot be read as wav"):
        save_upload(Upload("bad.wav", b"RIFF" + b"\0" * 200), "default", "audio", check=check_audio)
    folder = (studio_home / stored).parent
    assert [p.name for p in folder.iterdir()] == [(studio_home / stored).name]
