"""Voice activity over 20 ms frames: webrtcvad plus onset and hangover.

``feed`` returns ``'start'`` once speech has lasted ``onset_ms`` (a cough or
click shorter than that is ignored), ``'end'`` once it has been absent for
``hangover_ms``, and ``None`` otherwise. The speech layer uses the events for
``speechTimeout`` and for telling "no input" apart; recording uses them for
silence detection.

    >>> from firmware_app.listen.vad import VoiceActivity
    >>> vad = VoiceActivity(aggressiveness=2, hangover_ms=300)
    >>> [vad.feed(bytes(320)) for _ in range(3)]      # silence is not speech
    [None, None, None]
"""

from __future__ import annotations

import webrtcvad

RATE = 8000
FRAME_MS = 20
FRAME_BYTES = RATE * FRAME_MS // 1000 * 2


class VoiceActivity:
    """Speech start/end events from webrtcvad decisions on 20 ms frames.

    ``aggressiveness`` is webrtcvad's mode, 0 (keeps the most speech) to 3
    (rejects the most noise). ``onset_ms`` and ``hangover_ms`` are rounded up
    to whole frames.
    """

    def __init__(self, aggressiveness: int = 2, hangover_ms: int = 300, onset_ms: int = 60, rate: int = RATE):
        if aggressiveness not in (0, 1, 2, 3):
            raise ValueError(f"aggressiveness must be 0-3, got {aggressiveness!r}")
        if rate != RATE:
            raise ValueError(f"VoiceActivity works at {RATE} Hz, not {rate}; resample first")
        if onset_ms < FRAME_MS or hangover_ms < FRAME_MS:
            raise ValueError(f"onset_ms and hangover_ms must be at least one frame ({FRAME_MS} ms)")
        self._vad = webrtcvad.Vad(aggressiveness)
        self.aggressiveness = aggressiveness
        self._onset = -(-onset_ms // FRAME_MS)
        self._hangover = -(-hangover_ms // FRAME_MS)
        self.reset()

    @property
    def hangover(self) -> float:
        """Seconds between the last voiced frame and the ``'end'`` it leads to."""
        return self._hangover * FRAME_MS / 1000

    def reset(self) -> None:
        """Back to silence, as at the start of a call or a new ``<Gather>``."""
        self.speaking = False
        self._count = 0

    def feed(self, frame) -> str | None:
        """Take one frame (320 bytes, or 160 int16 samples); return an event or None."""
        if not isinstance(frame, (bytes, bytearray)):
            frame = memoryview(frame).tobytes()
        if len(frame) != FRAME_BYTES:
            raise ValueError(f"a frame is {FRAME_BYTES} bytes (20 ms at 8 kHz), got {len(frame)}")
        voiced = self._vad.is_speech(frame, RATE)
        # Count frames that disagree with the current state; reset on agreement.
        self._count = self._count + 1 if voiced != self.speaking else 0
        if not self.speaking and self._count >= self._onset:
            self.speaking, self._count = True, 0
            return "start"
        if self.speaking and self._count >= self._hangover:
            self.speaking, self._count = False, 0
            return "end"
        return None
