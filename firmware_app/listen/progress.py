"""Hearing that the far end hung up on an analog line, from its call-progress tones.

When the caller hangs up, the exchange does not tell an FXO line so: it
plays busy or reorder tone, dial tone comes back, or the line goes quiet.
``HangupTones`` listens for these in 20 ms frames of 8 kHz audio:

- ``busy``: 480 + 620 Hz (North America) or a single tone at 400-450 Hz
  (ITU 425 Hz, UK and Japan 400 Hz), 0.5 s on / 0.5 s off or 0.375 / 0.375;
- ``reorder``: the same tones at 0.25 / 0.25 (also 0.3 / 0.2);
- ``dial``: 350 + 440 Hz, 350 + 450 Hz or 400-450 Hz steady for ``dial_seconds``;
- ``silence``: the frame level below ``silence_dbm0`` for ``silence`` seconds
  (0, the default, turns this off).

Each frame is projected, with one matrix product, onto three small
subspaces: the 20 ms sinusoids at 480 and 620 Hz, at 400/425/450 Hz, and at
350/440/450 Hz (their orthonormal bases). A frame is *on* for a family when
it is above ``LEVEL_MIN_DBM0`` and the family holds at least 70% of its
energy; *quiet* when it is 10 dB below the tone it follows; anything else
(speech, music, a key) breaks the cadence, but for one frame at a time at
the edges of a burst. Busy or reorder is reported once
``cycles`` tone bursts in a row, with the gaps between them, all fit one
cadence: after 2.5 s of North American busy, 1.25 s of reorder. Speech does
not keep 70% of its energy on one tone pair for 160 ms, then fall 10 dB
quiet, three times at a steady beat.

    >>> import numpy as np
    >>> from firmware_app.listen.progress import HangupTones
    >>> t = np.arange(4000) / 8000
    >>> burst = (3000 * (np.sin(2 * np.pi * 480 * t) + np.sin(2 * np.pi * 620 * t))).astype(np.int16)
    >>> busy = np.tile(np.concatenate([burst, np.zeros(4000, np.int16)]), 4)
    >>> det = HangupTones()
    >>> [r for r in (det.feed(busy[i:i + 160]) for i in range(0, len(busy), 160)) if r]
    ['busy']
"""

from __future__ import annotations

import functools

import numpy as np

from drivers.constants import DBM0_POWER, FRAME_SAMPLES, FRAME_SECONDS, RATE

FAMILIES = {  # name: (frequencies, whether its tone cadences mean busy/reorder)
    "na": ((480.0, 620.0), True),
    "single": ((400.0, 425.0, 450.0), True),
    "dial": ((350.0, 440.0, 450.0), False),
    "ring": ((440.0, 480.0), False),
}
# Ringback, heard after dialling: (family, on/off/on... seconds). North America
# 440 + 480 Hz 2 s on 4 s off; ITU 425 Hz 1 s on 4 s off; UK 400 + 450 Hz 0.4 on 0.2 off 0.4 on 2 s off.
RINGBACKS = (("ring", (2.0,)), ("single", (1.0,)), ("single", (0.4, 0.2, 0.4)))
ANSWER_SECONDS = 0.5  # loud audio that is no tone, after dialling: someone answered
CADENCES = (("busy", 0.5, 0.5), ("busy", 0.375, 0.375), ("reorder", 0.25, 0.25))
TOLERANCE = 0.15  # of each nominal time, plus one frame either side and one for the edges
FRACTION_MIN = 0.70
QUIET_DB = 10.0
LEVEL_MIN_DBM0 = -40.0
DIAL_FAMILIES = ("single", "dial")


@functools.cache
def _projection() -> tuple[np.ndarray, list[slice]]:
    """The frame-to-coordinates matrix (160 x dims) and each family's columns.

    A family's columns are an orthonormal basis of the span of its
    sinusoids over one frame (close frequencies such as 440 and 450 Hz are
    nearly parallel, so directions under a tenth of the strongest are
    dropped); the sum of squares of a frame's coordinates is the energy the
    family holds.
    """
    n = np.arange(FRAME_SAMPLES)
    parts, slices, at = [], [], 0
    for freqs, _ in FAMILIES.values():
        arg = 2 * np.pi * np.outer(n, freqs) / RATE
        u, s, _ = np.linalg.svd(np.concatenate([np.cos(arg), np.sin(arg)], axis=1), full_matrices=False)
        basis = u[:, s > 0.1 * s[0]]
        parts.append(basis)
        slices.append(slice(at, at + basis.shape[1]))
        at += basis.shape[1]
    matrix = np.concatenate(parts, axis=1).astype(np.float32)
    matrix.flags.writeable = False
    return matrix, slices


def _frames_range(seconds: float) -> tuple[int, int]:
    slack = seconds * TOLERANCE / FRAME_SECONDS + 2
    return int(seconds / FRAME_SECONDS - slack + 0.999), int(seconds / FRAME_SECONDS + slack)


class _Cadence:
    """The on and quiet runs of one family's tone, in frames."""

    def __init__(self, name: str, cadenced: bool) -> None:
        self.name, self.cadenced = name, cadenced
        self.kind = ""  # "on", "quiet" or "" (neither: the cadence is broken)
        self.length = 0
        self.odd = 0  # 1 right after a frame that was neither on nor quiet
        self.power = 0.0  # summed over the current run
        self.tone_power = 0.0  # mean over the last tone burst: "quiet" is 10 dB under it
        self.runs: list[int] = []  # completed runs, alternately on and quiet, the first on

    def step(self, on: bool, energy: float) -> bool:
        """Add a frame; True when a tone burst has just ended."""
        if on:
            kind = "on"
        elif self.tone_power and energy * 10 ** (QUIET_DB / 10) <= self.tone_power:
            kind = "quiet"
        elif self.kind and not self.odd:
            # A frame that a burst starts or stops part way through can be
            # mostly noise yet not quiet: it stays with the run it ends.
            self.odd = 1
            self.length += 1
            return False
        else:
            kind = ""
        self.odd = 0
        if kind == self.kind:
            self.length += 1
            self.power += energy
        else:
            ended, length = self.kind, self.length
            self.kind, self.length, self.power = kind, 1, energy
            if ended == "on" or (ended == "quiet" and kind == "on"):
                self.runs.append(length)
            else:
                self.runs.clear()
            if kind == "":
                self.tone_power = 0.0
            if ended == "on":
                return True
        if kind == "on":
            self.tone_power = self.power / self.length
        return False


class HangupTones:
    """Streaming detector of the tones and silence that follow a far-end hang-up.

    ``cycles`` is how many tone bursts of one cadence confirm busy or
    reorder; ``dial_seconds`` how long dial tone must hold; ``silence`` the
    seconds of quiet below ``silence_dbm0`` that count as a hang-up (0: never).
    ``tones=False`` leaves only the silence timeout. ``ringback=True`` (after
    dialling out) also reports ``"ringback"`` at the end of a ringback burst and
    ``"answer"`` after ``ANSWER_SECONDS`` of loud audio that is not a tone.
    """

    def __init__(self, *, tones: bool = True, cycles: int = 3, dial_seconds: float = 3.0,
                 silence: float = 0.0, silence_dbm0: float = -45.0, ringback: bool = False) -> None:
        if cycles < 2:
            raise ValueError(f"cycles must be 2 or more, not {cycles!r}")
        if dial_seconds <= 0 or silence < 0:
            raise ValueError(f"dial_seconds must be above 0 and silence 0 or more, not {dial_seconds!r}, {silence!r}")
        self.tones, self.cycles = tones, int(cycles)
        self._matrix, self._slices = _projection()
        self._level = 10 ** (LEVEL_MIN_DBM0 / 10) * DBM0_POWER * FRAME_SAMPLES
        self._silence_energy = 10 ** (silence_dbm0 / 10) * DBM0_POWER * FRAME_SAMPLES
        self._silence_frames = round(silence / FRAME_SECONDS)
        self._dial_frames = round(dial_seconds / FRAME_SECONDS)
        self._cadences = [(name, _frames_range(on), _frames_range(off)) for name, on, off in CADENCES]
        self.ringback = ringback
        self._ringbacks = [(name, [_frames_range(s) for s in pattern]) for name, pattern in RINGBACKS]
        self._answer_frames = round(ANSWER_SECONDS / FRAME_SECONDS)
        self.reset()

    def reset(self) -> None:
        """Forget all history, as at the start of a call."""
        self._families = [_Cadence(name, cadenced) for name, (_, cadenced) in FAMILIES.items()]
        self._quiet = 0
        self._voice = 0
        self.heard_for = 0.0  # how long the sound last reported had lasted when it was reported

    def feed(self, frame) -> str | None:
        """Analyse one frame (160 int16 samples, bytes or array); returns
        ``"busy"``, ``"reorder"``, ``"dial"`` or ``"silence"`` once confirmed, else None."""
        if type(frame) is not np.ndarray:
            frame = np.frombuffer(frame, "<i2")
        if len(frame) != FRAME_SAMPLES:
            raise ValueError(f"a frame is {FRAME_SAMPLES} samples ({2 * FRAME_SAMPLES} bytes), got {len(frame)} samples")
        x = frame.astype(np.float32)
        energy = float(x.dot(x))
        if self._silence_frames:
            self._quiet = self._quiet + 1 if energy < self._silence_energy else 0
            if self._quiet >= self._silence_frames:
                self.reset()
                return "silence"
        if not self.tones:
            return None
        held = np.square(x.dot(self._matrix))
        loud = energy >= self._level
        found, tone = None, False
        for family, cols in zip(self._families, self._slices):
            ended = family.step(loud and float(held[cols].sum()) >= FRACTION_MIN * energy, energy)
            tone = tone or family.kind == "on"
            if family.kind == "on" and family.length >= self._dial_frames and family.name in DIAL_FAMILIES:
                found, self.heard_for = "dial", family.length * FRAME_SECONDS
            elif ended and family.cadenced:
                found = found or self._cadence(family.runs)
            if ended and self.ringback:
                found = found or self._ringback(family)
        if self.ringback:
            self._voice = self._voice + 1 if loud and not tone else 0 if tone else self._voice
            if not found and self._voice >= self._answer_frames:
                found, self.heard_for = "answer", self._voice * FRAME_SECONDS
        if found:
            heard_for = self.heard_for
            self.reset()  # reported once; a second report needs a fresh confirmation
            self.heard_for = heard_for
        return found

    def _ringback(self, family: _Cadence) -> str | None:
        for name, pattern in self._ringbacks:
            last = family.runs[-len(pattern):]
            if name == family.name and len(last) == len(pattern) and all(
                    lo <= n <= hi for n, (lo, hi) in zip(last, pattern)):
                self.heard_for = sum(last) * FRAME_SECONDS
                return "ringback"
        return None

    def _cadence(self, runs: list[int]) -> str | None:
        """The cadence the last ``cycles`` bursts and the gaps between them all fit, if any."""
        last = runs[-(2 * self.cycles - 1):]
        if len(last) < 2 * self.cycles - 1:
            return None
        for name, (on_lo, on_hi), (off_lo, off_hi) in self._cadences:
            if all(on_lo <= n <= on_hi for n in last[::2]) and all(off_lo <= n <= off_hi for n in last[1::2]):
                self.heard_for = sum(last) * FRAME_SECONDS
                return name
        return None
