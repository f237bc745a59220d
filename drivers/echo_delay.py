"""Where the echo is: the bulk delay between a frame the box sends and its echo.

A sound card's round trip is not known in advance and moves: a stalled
event loop leaves frames queued in the card, and they stay queued. An echo
canceller whose tail no longer covers the echo cancels nothing, so the
line's canceller follows the delay. ``DelayEstimator`` correlates the level
envelopes (dB per 20 ms frame) of what the box sent and what the line
heard, over the last three seconds, at every lag up to a little over a
second, and names a lag once two estimates half a second apart agree on a
clear peak. A prompt's syllables make a sharp one; line noise or a caller
talking alone make none, and nothing is named.

    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> far = rng.uniform(0, 1e7, 400) * (rng.uniform(size=400) > 0.5)   # frame powers of bursty speech
    >>> est, found = DelayEstimator(), []
    >>> for n in range(400):
    ...     found.append(est.push(far[n], far[n - 7] / 10 if n >= 7 else 0.0))
    >>> sorted({lag for lag in found if lag is not None})
    [7]
"""

from __future__ import annotations

import collections

import numpy as np

MAX_LAG = 60  # frames: 1.2 s
WINDOW = 150  # frames of envelope correlated: 3 s
EVERY = 25  # frames between estimates
MIN_ACTIVE = 0.25  # the share of the window the far end must be speaking in
MIN_CORRELATION = 0.8  # a prompt's echo alone scores above 0.9; a caller talking over it, under 0.7
ACTIVE_DB = 30.0  # envelope level (dB over 1 per sample) of a speaking far end: about -60 dBm0


def _level(power: float) -> float:
    """A 20 ms frame's power (sum of squares) as an envelope level in dB."""
    return float(10 * np.log10(power / 160 + 1.0))


class DelayEstimator:
    """Push each frame's (far power, heard power); see the module docstring.

    The far power is that of the last frame the box sent before the frame
    heard: a named lag ``s`` means the echo of the frame sent ``s`` frames
    before that one.
    """

    def __init__(self) -> None:
        self._far: collections.deque[float] = collections.deque(maxlen=WINDOW + MAX_LAG)
        self._near: collections.deque[float] = collections.deque(maxlen=WINDOW)
        self._count = 0
        self._candidate: int | None = None

    def push(self, far_power: float, near_power: float) -> int | None:
        """Add one frame; returns the lag in frames when a new estimate is sure."""
        self._far.append(_level(far_power))
        self._near.append(_level(near_power))
        self._count += 1
        if self._count % EVERY or len(self._far) < self._far.maxlen:
            return None
        lag = self._estimate()
        sure = lag is not None and lag == self._candidate
        self._candidate = lag
        return lag if sure else None

    def _estimate(self) -> int | None:
        far = np.fromiter(self._far, float)
        near = np.fromiter(self._near, float)
        if (far[MAX_LAG:] > ACTIVE_DB).mean() < MIN_ACTIVE or near.std() < 1.0:
            return None
        # row s: the far envelope s frames before each heard frame
        windows = np.lib.stride_tricks.sliding_window_view(far, WINDOW)[::-1]
        windows = windows - windows.mean(axis=1, keepdims=True)
        spread = np.linalg.norm(windows, axis=1)
        centred = near - near.mean()
        scores = windows @ centred / np.maximum(spread * np.linalg.norm(centred), 1e-9)
        best = int(np.argmax(scores))
        return best if scores[best] >= MIN_CORRELATION else None


__all__ = ["DelayEstimator", "MAX_LAG"]
