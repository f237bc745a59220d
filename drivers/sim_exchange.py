"""The simulator's telephone exchange, for <Dial>: what the box hears after a hook flash.

The caller's script chooses the far end with ``dial:`` steps, used in order
by the box's dials (``dial:answered:30``, ``dial:busy``, ``dial:no-answer``,
``dial:failed``). After a flash the exchange plays dial tone; once dialled,
the far end: ``answered:SECONDS`` rings once (2 s of North American
ringback), talks (noise at -20 dBm0) for SECONDS, then hangs up (busy tone);
``busy`` is busy tone, ``failed`` reorder, ``no-answer`` ringback for ever.

    >>> far_end("answered:30")
    ('answered', 30.0)
    >>> far_end("ringing")
    Traceback (most recent call last):
    ValueError: caller script: 'dial:ringing' must be answered[:SECONDS], busy, no-answer or failed
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from .constants import DBM0_PEAK, FRAME_SAMPLES, FRAME_SECONDS, RATE, SILENCE

OUTCOMES = ("answered", "busy", "no-answer", "failed")
POST_DIAL_DELAY = 0.5
TONE_DBM0 = -13.0
VOICE_DBM0 = -20.0


def far_end(arg: str) -> tuple[str, float]:
    """(outcome, seconds) from a ``dial:`` step's argument."""
    outcome, _, seconds = arg.partition(":")
    try:
        if outcome not in OUTCOMES or (seconds and outcome != "answered"):
            raise ValueError
        talk = float(seconds or 10)
        if not 0 <= talk < math.inf:
            raise ValueError
    except ValueError:
        raise ValueError(f"caller script: 'dial:{arg}' must be answered[:SECONDS], busy, no-answer or failed") from None
    return outcome, talk


def _tone(freqs: tuple[float, ...], cadence: tuple[float, ...], forever: bool = True):
    """Frames of a tone pair switched on and off by ``cadence`` (seconds on, off, ...)."""
    n = 0
    amplitude = DBM0_PEAK * 10 ** (TONE_DBM0 / 20)
    for i, seconds in enumerate(itertools.cycle(cadence) if forever else cadence):
        for _ in range(round(seconds / FRAME_SECONDS)):
            t = (n + np.arange(FRAME_SAMPLES)) / RATE
            n += FRAME_SAMPLES
            if i % 2:
                yield SILENCE
            else:
                yield (amplitude * sum(np.sin(2 * np.pi * f * t) for f in freqs)).astype("<i2").tobytes()


def _quiet(seconds: float):
    for _ in range(round(seconds / FRAME_SECONDS)):
        yield SILENCE


def dial_tone():
    yield from _tone((350.0, 440.0), (1.0,))


def far_end_audio(outcome: str, seconds: float):
    yield from _quiet(POST_DIAL_DELAY)
    if outcome == "busy":
        yield from _tone((480.0, 620.0), (0.5, 0.5))
    elif outcome == "failed":
        yield from _tone((480.0, 620.0), (0.25, 0.25))
    elif outcome == "no-answer":
        yield from _tone((440.0, 480.0), (2.0, 4.0))
    else:
        yield from _tone((440.0, 480.0), (2.0, 1.0), forever=False)
        voice = np.random.default_rng(0)
        sigma = DBM0_PEAK * 10 ** (VOICE_DBM0 / 20) / math.sqrt(2)
        for _ in range(round(seconds / FRAME_SECONDS)):
            yield np.clip(voice.normal(0, sigma, FRAME_SAMPLES), -32768, 32767).astype("<i2").tobytes()
        yield from _tone((480.0, 620.0), (0.5, 0.5))
