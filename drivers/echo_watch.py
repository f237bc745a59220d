"""Has the echo canceller's filter lost the echo path? Frame by frame, from
what it took off the line against what the line heard.

A card that misses its deadline plays silence nobody counts (an underrun),
and from then on the echo comes back later than the filter has learnt. The
filter goes on taking off the echo it expects, which no longer matches what
is heard: it takes off about as much as the line heard, what it takes off
hardly fits what was heard, and it leaves as much as came in. A caller
talking under an echo the filter still cancels cannot look like that: what
the filter takes off then fits what is heard, and the caller comes on top of
it. Once one frame looks like that, the next that fits as badly and is left
as loud counts too, even if the filter took off a little less.

    >>> import numpy as np
    >>> watch = PathWatch(active=1.0)
    >>> def judge(heard, clean):
    ...     return watch.astray(heard, clean, float(heard.dot(heard)), float(clean.dot(clean)), echo_max=1e12)
    >>> echo = np.random.default_rng(1).normal(0, 1000, 800).astype(np.float32)
    >>> judge(echo[640:800], np.zeros(160, np.float32))  # cancelled
    False
    >>> late = echo[640 - 24:800 - 24]            # the echo comes back 24 samples late
    >>> judge(late, late - echo[640:800])
    True
"""

from __future__ import annotations

import numpy as np

MISFIT = 0.6  # what it took off fits what was heard less than this, and it left as much: it has lost the path
KEPT_DB = 0.5  # "as much": within this


class PathWatch:
    """Call ``astray`` with each frame the filter worked on while the box talks,
    ``reset`` for a frame it had nothing to take off or when it starts over."""

    def __init__(self, active: float):
        self._active = active  # the least frame power worth judging
        self._before = False

    def reset(self) -> None:
        self._before = False

    def astray(self, heard: np.ndarray, clean: np.ndarray, heard_power: float, clean_power: float,
               echo_max: float) -> bool:
        """Whether this frame says the filter has lost the path: ``heard`` is what
        the line heard, ``clean`` the filter's output (float32 samples, with their
        powers), ``echo_max`` the loudest echo the box's own voice could make now."""
        before, self._before = self._before, False
        if heard_power > echo_max or heard_power < self._active:
            return False  # louder than any echo, or too faint to tell
        taken = heard - clean
        taken_power = float(taken.dot(taken))
        if taken_power < self._active or float(heard.dot(taken)) >= MISFIT * taken_power:
            return False
        least = heard_power * 10 ** (-KEPT_DB / 10)
        self._before = clean_power >= least and (before or taken_power >= least)
        return self._before
