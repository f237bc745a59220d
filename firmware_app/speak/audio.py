"""Decode audio files to the line's format: 8 kHz signed 16-bit mono PCM.

    >>> import io, wave
    >>> buf = io.BytesIO()
    >>> with wave.open(buf, "wb") as w:
    ...     w.setnchannels(2); w.setsampwidth(2); w.setframerate(44100); w.writeframes(bytes(4 * 44100))
    >>> len(decode(buf.getvalue()))   # one second at 8 kHz, 2 bytes a sample
    16000
"""

from __future__ import annotations

import miniaudio

from drivers.constants import RATE


class AudioError(ValueError):
    """The bytes are not audio this box can decode."""


def decode(data: bytes) -> bytes:
    if not data:
        raise AudioError("the audio is empty")
    try:
        sound = miniaudio.decode(data, output_format=miniaudio.SampleFormat.SIGNED16, nchannels=1, sample_rate=RATE)
    except miniaudio.DecodeError as e:
        head = data[:64].lstrip().lower()
        kind = "HTML" if head.startswith((b"<!doctype html", b"<html")) else "not a wav, mp3, flac or ogg file"
        raise AudioError(f"cannot decode the audio: {kind} ({e})") from None
    return sound.samples.tobytes()
