"""DTMF tone generation for ``<Play digits="...">`` and the simulated caller.

Levels are in dBm0. For 16-bit linear PCM we follow the G.711 convention: a
0 dBm0 sine is 3.17 dB below a full-scale sine, so its peak is about 22,780.

Sent digits use Q.23 levels: each low-group tone at -8 dBm0 and each
high-group tone 2 dB above it (the usual pre-emphasis for line loss), 100 ms
on and 100 ms off, as most switches and PBXs expect. ``w`` is a 0.5 s pause,
as in Twilio's ``digits`` attribute.

    >>> from firmware_app.listen.tones import dtmf_audio
    >>> pcm = dtmf_audio("12w#")          # numpy int16 at 8 kHz
    >>> frame = pcm[:160].tobytes()       # one 20 ms frame for Line.write_frame
"""

from __future__ import annotations

import numpy as np

from drivers.line import DBM0_PEAK

RATE = 8000

LOW = (697.0, 770.0, 852.0, 941.0)
HIGH = (1209.0, 1336.0, 1477.0, 1633.0)
KEYS = ("123A", "456B", "789C", "*0#D")  # KEYS[low][high]
PAUSE_CHARS = {"w": 0.5}


def key_freqs(key: str) -> tuple[float, float]:
    """The (low, high) frequencies of a DTMF key, e.g. ``'5'`` -> (770, 1336)."""
    for row, keys in enumerate(KEYS):
        col = keys.find(key.upper()) if len(key) == 1 else -1
        if col >= 0:
            return LOW[row], HIGH[col]
    raise ValueError(f"not a DTMF key: {key!r} (use 0-9, *, #, A-D)")


def dbm0_to_peak(dbm0: float) -> float:
    """Peak amplitude (16-bit scale) of a sine at ``dbm0``."""
    return DBM0_PEAK * 10 ** (dbm0 / 20)


def power_dbm0(samples) -> float:
    """Mean power of int16-scale samples in dBm0 (``-inf`` for silence)."""
    x = np.asarray(samples, dtype=np.float64)
    p = float(np.mean(x * x)) if x.size else 0.0
    return 10 * np.log10(p / (DBM0_PEAK**2 / 2)) if p > 0 else float("-inf")


def tone_pair(
    low_hz: float,
    high_hz: float,
    seconds: float,
    rate: int = RATE,
    low_dbm0: float = -8.0,
    high_dbm0: float = -6.0,
    phase: float = 0.0,
) -> np.ndarray:
    """A float64 dual tone (either frequency may be 0 for none)."""
    t = np.arange(int(round(seconds * rate))) / rate
    out = np.zeros_like(t)
    if low_hz:
        out += dbm0_to_peak(low_dbm0) * np.sin(2 * np.pi * low_hz * t + phase)
    if high_hz:
        out += dbm0_to_peak(high_dbm0) * np.sin(2 * np.pi * high_hz * t + 2 * phase)
    return out


def to_int16(x: np.ndarray) -> np.ndarray:
    """Round and clip float samples to int16."""
    return np.clip(np.rint(x), -32768, 32767).astype(np.int16)


def dtmf_audio(
    keys: str,
    rate: int = RATE,
    on_ms: float = 100.0,
    off_ms: float = 100.0,
    low_dbm0: float = -8.0,
    twist_db: float = 2.0,
    deviation: float = 0.0,
) -> np.ndarray:
    """The tones for a digit string as int16 samples at ``rate``.

    ``keys`` holds 0-9, ``*``, ``#``, A-D and ``w`` (0.5 s pause); spaces are
    ignored. ``twist_db`` is the high-group level minus the low-group level;
    ``deviation`` scales both frequencies (0.015 = +1.5%). Each digit is
    followed by ``off_ms`` of silence.
    """
    pieces = []
    gap = np.zeros(int(round(off_ms * rate / 1000)))
    for ch in keys:
        if ch in PAUSE_CHARS:
            pieces.append(np.zeros(int(round(PAUSE_CHARS[ch] * rate))))
        elif ch != " ":
            low, high = key_freqs(ch)
            pieces.append(
                tone_pair(
                    low * (1 + deviation),
                    high * (1 + deviation),
                    on_ms / 1000,
                    rate,
                    low_dbm0,
                    low_dbm0 + twist_db,
                )
            )
            pieces.append(gap)
    return to_int16(np.concatenate(pieces)) if pieces else np.zeros(0, np.int16)
