"""Where the echo is: the bulk delay between a frame the box sends and its echo.

A sound card's round trip is not known in advance and changes from call to
call (how its streams start), and a stall can shift it within one. An echo
canceller whose tail no longer covers the echo cancels nothing, so the
line's canceller follows the delay. ``DelayEstimator`` correlates the level
envelopes (dB per 20 ms frame) of what the box sent and what the line
heard, over up to the last three seconds, at every lag up to a little over
a second, and names a lag once two estimates half a second apart agree on
a clear peak. A prompt's syllables make a sharp one; line noise or a caller
talking alone make none, and nothing is named.

Frames are counted in each direction: a lag ``s`` means that heard frame
``n`` holds the echo of sent frame ``n - s``. Counting, rather than pairing
each heard frame with the last one sent, keeps the lag fixed however the
line's reads and writes interleave (a card delivers capture in bursts, and
a late write is made up for by silence the card played).

    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> far = rng.uniform(0, 1e7, 400) * (rng.uniform(size=400) > 0.5)   # frame powers of bursty speech
    >>> est, found = DelayEstimator(), []
    >>> for n in range(400):
    ...     est.sent(far[n])
    ...     found.append(est.heard(far[n - 7] / 10 if n >= 7 else 0.0))
    >>> sorted({lag for lag in found if lag is not None})
    [7]
"""

from __future__ import annotations

import collections

import numpy as np

from .constants import ECHO_MAX_LAG as MAX_LAG

WINDOW = 150  # frames of envelope correlated: 3 s
MIN_WINDOW = 75  # ... at least: the first estimate comes 1.5 s into a call
EVERY = 25  # frames between estimates
SLACK = 100  # frames the line may send ahead of what it hears
MIN_ACTIVE = 0.25  # the share of the window the far end must be speaking in
MIN_CORRELATION = 0.8  # a prompt's echo alone scores above 0.9; a caller talking over it, under 0.7
ACTIVE_DB = 30.0  # envelope level (dB over 1 per sample) of a speaking far end: about -60 dBm0


def _level(power: float) -> float:
    """A 20 ms frame's power (sum of squares) as an envelope level in dB."""
    return float(10 * np.log10(power / 160 + 1.0))


class DelayEstimator:
    """Call ``sent`` with each frame's power the box sends and ``heard`` with
    each it hears, in any order; see the module docstring."""

    def __init__(self) -> None:
        self._far: collections.deque[float] = collections.deque(maxlen=WINDOW + MAX_LAG + SLACK)
        self._near: collections.deque[float] = collections.deque(maxlen=WINDOW)
        self._sent = self._heard = 0
        self._candidate: int | None = None

    def sent(self, power: float) -> None:
        """A frame the box sent, by its power (sum of squares)."""
        self._far.append(_level(power))
        self._sent += 1

    def unsent(self, frames: int) -> None:
        """The last FRAMES sent never played: forget them."""
        for _ in range(min(frames, len(self._far))):
            self._far.pop()
            self._sent -= 1

    def heard(self, power: float) -> int | None:
        """A frame the line heard; returns the lag in frames when a new estimate is sure."""
        self._near.append(_level(power))
        self._heard += 1
        if self._heard % EVERY or len(self._near) < MIN_WINDOW:
            return None
        lag = self._estimate()
        sure = lag is not None and lag == self._candidate
        self._candidate = lag
        return lag if sure else None

    def _estimate(self) -> int | None:
        # far frames n - MAX_LAG ... n - 1 for the heard frames in the window, by their count
        window = len(self._near)
        first = self._heard - window - MAX_LAG  # count of the oldest far frame wanted
        start = first - (self._sent - len(self._far))
        dropped = self._sent - len(self._far)
        if (start < 0 and dropped) or first + window + MAX_LAG - 1 > self._sent:
            return None
        far = np.fromiter(self._far, float)
        if start < 0:  # before the first frame sent: silence
            far, start = np.concatenate([np.zeros(-start), far]), 0
        far = far[start:start + window + MAX_LAG - 1]
        near = np.fromiter(self._near, float)
        if (far[MAX_LAG - 1:] > ACTIVE_DB).mean() < MIN_ACTIVE or near.std() < 1.0:
            return None
        # row s - 1: the far envelope s frames before each heard frame
        windows = np.lib.stride_tricks.sliding_window_view(far, window)[::-1]
        windows = windows - windows.mean(axis=1, keepdims=True)
        spread = np.linalg.norm(windows, axis=1)
        centred = near - near.mean()
        scores = windows @ centred / np.maximum(spread * np.linalg.norm(centred), 1e-9)
        best = int(np.argmax(scores))
        return best + 1 if scores[best] >= MIN_CORRELATION else None


__all__ = ["DelayEstimator", "MAX_LAG"]
