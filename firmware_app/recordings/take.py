"""One <Record>'s audio: the caller's frames as they come, cut and trimmed at the end.

Frames go to a raw file as they arrive, so an hour-long message costs no
memory; what is kept in memory is a few runs of frame numbers: where voice
activity heard speech, and where a DTMF tone was on the line.

    >>> import tempfile, pathlib
    >>> take = Take(pathlib.Path(tempfile.mkdtemp()) / "x.raw")
    >>> for _ in range(50):
    ...     take.feed(bytes(320), tone=False)
    >>> take.seconds, take.silence, take.heard_voice
    (1.0, 1.0, False)
    >>> take.finish(trim=True) is None                     # silence only: an empty recording
    True

``finish`` drops the frames that carried a DTMF tone, with a guard either
side (the detector marks a tone a frame or two after it starts and lets it go
25 ms after it ends), and with ``trim`` the silence before the first and
after the last speech, keeping ``PAD`` of it so that no word is clipped.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from drivers.constants import FRAME_BYTES, FRAME_SECONDS, RATE

from ..listen.tones import dbm0_to_peak, to_int16
from ..listen.vad import VoiceActivity

ONSET_MS = 60
TONE_GUARD_BEFORE = 3       # frames: the detector confirms a tone 31-52 ms after it starts
TONE_GUARD_AFTER = 2        # frames: release after 25 ms, plus the tone's decay
PAD = 5                     # frames of silence kept around the speech when trimming
CHUNK_FRAMES = 3000         # a minute of audio: what finishing a take holds in memory at once
BEEP_HZ = 1000.0
BEEP_SECONDS = 0.5
BEEP_DBM0 = -10.0
BEEP_RAMP = 0.01


def beep() -> bytes:
    """Twilio's record beep: a 1 kHz tone with soft edges, as 16-bit PCM at 8 kHz.

    >>> pcm = np.frombuffer(beep(), "<i2")
    >>> len(pcm) / RATE
    0.5
    >>> spectrum = np.abs(np.fft.rfft(pcm))
    >>> round(float(np.argmax(spectrum)) * RATE / len(pcm))
    1000
    """
    n = round(BEEP_SECONDS * RATE)
    t = np.arange(n) / RATE
    ramp = np.minimum(1.0, np.minimum(t, t[::-1]) / BEEP_RAMP)
    envelope = np.sin(0.5 * np.pi * ramp) ** 2
    return to_int16(dbm0_to_peak(BEEP_DBM0) * envelope * np.sin(2 * np.pi * BEEP_HZ * t)).tobytes()


class Take:
    def __init__(self, raw_path: Path, *, aggressiveness: int = 2, hangover_ms: int = 300):
        self.raw_path = Path(raw_path)
        self._file = self.raw_path.open("wb")
        self.vad = VoiceActivity(aggressiveness, hangover_ms=hangover_ms, onset_ms=ONSET_MS)
        self._onset = -(-ONSET_MS // 20)
        self._hangover = round(self.vad.hangover / FRAME_SECONDS)
        self.frames = 0
        self.voice: list[list[int]] = []    # [first, end) frame runs of speech
        self.tones: list[list[int]] = []    # [first, end) frame runs with a DTMF tone
        self._last_voiced = -1

    @property
    def seconds(self) -> float:
        return round(self.frames * FRAME_SECONDS, 2)

    @property
    def heard_voice(self) -> bool:
        return bool(self.voice)

    @property
    def silence(self) -> float:
        """Seconds since the caller last spoke (or since the recording began)."""
        if self.vad.speaking:
            return 0.0
        return round((self.frames - 1 - self._last_voiced) * FRAME_SECONDS, 2)

    def feed(self, frame: bytes, tone: bool) -> None:
        """One 20 ms frame of the caller; ``tone``: the DTMF detector hears a key in it."""
        i = self.frames
        self.frames += 1
        self._file.write(frame)
        if tone:
            if self.tones and self.tones[-1][1] == i:
                self.tones[-1][1] = i + 1
            else:
                self.tones.append([i, i + 1])
            frame = bytes(FRAME_BYTES)          # a key's tone is not the caller's voice
        edge = self.vad.feed(frame)
        if edge == "start":
            self.voice.append([max(0, i - self._onset + 1), i + 1])
        elif edge == "end":
            self._last_voiced = i - self._hangover
        if self.vad.speaking:
            self.voice[-1][1] = i + 1
            self._last_voiced = i
        elif edge == "end":
            self.voice[-1][1] = self._last_voiced + 1

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()

    def discard(self) -> None:
        self.close()
        self.raw_path.unlink(missing_ok=True)

    def keep(self, trim: bool) -> np.ndarray | None:
        """Which frames the recording keeps; None when the caller never spoke. Closes the raw file."""
        self.close()
        if not self.voice or not self.frames:
            return None
        keep = np.ones(self.frames, dtype=bool)
        for first, end in self.tones:
            keep[max(0, first - TONE_GUARD_BEFORE):end + TONE_GUARD_AFTER] = False
        if trim:
            keep[:max(0, self.voice[0][0] - PAD)] = False
            keep[self.voice[-1][1] + PAD:] = False
        return keep if keep.any() else None

    def kept(self, keep: np.ndarray):
        """The kept frames as PCM, CHUNK_FRAMES at a time, read from the raw file (bounded memory). Blocking."""
        audio = np.memmap(self.raw_path, dtype="<i2", mode="r", shape=(self.frames, FRAME_BYTES // 2))
        for start in range(0, self.frames, CHUNK_FRAMES):
            chunk = audio[start:start + CHUNK_FRAMES][keep[start:start + CHUNK_FRAMES]]
            if len(chunk):
                yield chunk.tobytes()
        del audio

    def finish(self, trim: bool) -> bytes | None:
        """The whole recording as PCM (None: the caller never spoke), and the raw file removed. Blocking."""
        try:
            keep = self.keep(trim)
            return None if keep is None else b"".join(self.kept(keep))
        finally:
            self.raw_path.unlink(missing_ok=True)
