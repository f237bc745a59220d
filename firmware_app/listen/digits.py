"""One timestamped stream of digits from every source on a call.

Digits arrive from the in-band detector (``inband``), the box's own keypad
(``keypad``) and a voice modem's own DTMF detector (``modem``). When two
sources report the same key within ``window`` seconds it is one press, and it
counts once.

    >>> from firmware_app.listen.digits import DigitStream
    >>> stream = DigitStream()
    >>> stream.push("5", "modem", 1.00)
    True
    >>> stream.push("5", "inband", 1.04)     # the same press, heard twice
    False
    >>> "".join(d.key for d in stream.digits)
    '5'
"""

from __future__ import annotations

from dataclasses import dataclass, field

from drivers.constants import DTMF_KEYS

KEYS = frozenset(DTMF_KEYS)
SOURCES = ("inband", "keypad", "modem")


@dataclass
class Digit:
    """A digit counted once, with the time and source of its first report."""

    key: str
    source: str
    t: float
    heard_by: set[str] = field(default_factory=set)


class DigitStream:
    """Merges digit reports; ``digits`` holds the counted ones in order."""

    def __init__(self, window: float = 0.2):
        if window < 0:
            raise ValueError(f"window must be >= 0 seconds, got {window}")
        self.window = window
        self.digits: list[Digit] = []

    def push(self, key: str, source: str, t: float) -> bool:
        """Report ``key`` from ``source`` at time ``t`` (seconds).

        Returns True if it is a new digit, False if it repeats a digit that
        another source reported within ``window``.
        """
        key = key.upper() if isinstance(key, str) else key
        if key not in KEYS:
            raise ValueError(f"not a DTMF key: {key!r} (use 0-9, *, #, A-D)")
        if source not in SOURCES:
            raise ValueError(f"unknown digit source {source!r}; one of {', '.join(SOURCES)}")
        for digit in reversed(self.digits):
            if t - digit.t > self.window:
                break
            if digit.key == key and source not in digit.heard_by and abs(t - digit.t) <= self.window:
                digit.heard_by.add(source)
                return False
        self.digits.append(Digit(key, source, t, {source}))
        return True

    def clear(self) -> None:
        """Forget counted digits (a new call)."""
        self.digits.clear()
