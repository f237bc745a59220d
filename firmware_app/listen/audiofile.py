"""Read an audio file as 8 kHz mono int16, the format every detector uses.

miniaudio decodes WAV (8/16/24/32-bit, float), FLAC, MP3 and Vorbis at any
rate and channel count, mixes down to mono and resamples.

    >>> import tempfile, wave
    >>> from firmware_app.listen.audiofile import read_8k, frames
    >>> path = tempfile.mktemp(suffix=".wav")
    >>> with wave.open(path, "wb") as w:                  # one second of 16 kHz stereo silence
    ...     w.setnchannels(2); w.setsampwidth(2); w.setframerate(16000); w.writeframes(bytes(64000))
    >>> pcm = read_8k(path)
    >>> len(pcm), len(list(frames(pcm)))                  # 8 kHz mono, 50 frames of 20 ms
    (8000, 50)
"""

from __future__ import annotations

import os

import numpy as np

RATE = 8000
FRAME = 160


class AudioFileError(Exception):
    """The file is missing, empty or not decodable audio."""


def read_8k(path: str | os.PathLike, rate: int = RATE) -> np.ndarray:
    """Decode ``path`` to mono int16 samples at ``rate`` Hz."""
    import miniaudio

    path = os.fspath(path)
    try:
        size = os.path.getsize(path)
    except OSError as exc:
        raise AudioFileError(f"{path}: {exc.strerror}") from exc
    if size == 0:
        raise AudioFileError(f"{path}: empty file, not audio")
    try:
        decoded = miniaudio.decode_file(
            path, output_format=miniaudio.SampleFormat.SIGNED16, nchannels=1, sample_rate=rate
        )
    except miniaudio.DecodeError as exc:
        raise AudioFileError(f"{path}: not a readable audio file (WAV, FLAC, MP3 or Vorbis): {exc}") from exc
    return np.frombuffer(decoded.samples, dtype=np.int16).copy()


def frames(pcm: np.ndarray, size: int = FRAME):
    """Yield ``size``-sample frames of ``pcm``; the last one is zero-padded."""
    for start in range(0, len(pcm), size):
        frame = pcm[start : start + size]
        if len(frame) < size:
            frame = np.concatenate([frame, np.zeros(size - len(frame), np.int16)])
        yield frame
