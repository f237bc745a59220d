"""Calls over a hybrid echo path, for the echo canceller's tests and bench.

The box's far-end audio is its real prompts: espeak-ng speech as ``<Say>``
renders it and ``<Play digits>`` tones. ``run_call`` plays them through
drivers.impair's hybrid, adds a caller, and hands every frame to a
canceller in the order a line's frame pump does (hear, then send).

    >>> from bench.echo_corpus import prompt, run_call
    >>> from drivers.echo import EchoCanceller
    >>> from drivers.impair import Impairments
    >>> far = prompt("Press one for sales.")                            # doctest: +SKIP
    >>> call = run_call(far, None, Impairments(echo_db=10), EchoCanceller())  # doctest: +SKIP
    >>> call.erle_db(-1.0)                                              # doctest: +SKIP
"""

from __future__ import annotations

import math
import os
import subprocess
import tempfile
import time
from dataclasses import dataclass

import numpy as np

from drivers.impair import Impairments
from drivers.constants import FRAME_SAMPLES, RATE
from firmware_app.speak.audio import decode
from firmware_app.listen.tones import dtmf_audio

PROMPTS = (
    "Thank you for calling. Please listen carefully, as our menu options have changed.",
    "For billing, press one. For sales, press two. To hear these options again, press star.",
    "Please enter your account number, followed by the pound key.",
)


def pad(x: np.ndarray) -> np.ndarray:
    """``x`` as int16, zero-padded to whole 20 ms frames."""
    x = np.asarray(x, np.int16)
    return np.concatenate([x, np.zeros(-len(x) % FRAME_SAMPLES, np.int16)])


def prompt(text: str, voice: str = "en-us") -> np.ndarray:
    """``text`` spoken by espeak-ng, as the box's <Say> sends it (8 kHz int16)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "say.wav")
        subprocess.run(["espeak-ng", "-v", voice, "-w", path, text], check=True, capture_output=True)
        with open(path, "rb") as f:
            return pad(np.frombuffer(decode(f.read()).pcm, np.int16))


def play_digits(keys: str) -> np.ndarray:
    """``<Play digits="...">``: Q.23 tones, 100 ms on, 100 ms off."""
    return pad(dtmf_audio(keys))


def prompts() -> np.ndarray:
    """The box's prompts one after the other: speech, then digits, then speech."""
    return np.concatenate([prompt(PROMPTS[0]), prompt(PROMPTS[1]), play_digits("1234567890*#"), prompt(PROMPTS[2])])


@dataclass
class Call:
    """One call's audio, frame-aligned: what the box sent (``far``), the
    caller alone (``near``), the echo alone, what the line heard and what
    the canceller let through; ``seconds`` of canceller CPU time."""

    far: np.ndarray
    near: np.ndarray
    echo: np.ndarray
    heard: np.ndarray
    clean: np.ndarray
    seconds: float

    def erle_db(self, start: float = 0.0, stop: float | None = None) -> float:
        """Echo return loss enhancement between ``start`` and ``stop`` seconds
        (negative counts from the end): echo power in, residual power out.
        Meaningful where the caller is silent."""
        a, b = self._span(start, stop)
        residual = self.clean[a:b].astype(float) - self.near[a:b]
        return _db(np.sum(self.echo[a:b] ** 2.0), np.sum(residual**2))

    def near_loss_db(self, start: float = 0.0, stop: float | None = None) -> float:
        """Caller power in over output power, in dB: how far the canceller
        turns the caller down (about 0 when the caller passes whole)."""
        a, b = self._span(start, stop)
        return _db(np.sum(self.near[a:b].astype(float) ** 2), np.sum(self.clean[a:b].astype(float) ** 2))

    def _span(self, start: float, stop: float | None) -> tuple[int, int]:
        n = len(self.far)
        a = int((start if start >= 0 else n / RATE + start) * RATE)
        b = n if stop is None else int((stop if stop >= 0 else n / RATE + stop) * RATE)
        return max(a, 0), min(b, n)


def _db(num: float, den: float) -> float:
    return 10 * math.log10(max(num, 1e-9) / max(den, 1e-9))


def run_call(far: np.ndarray, near: np.ndarray | None, impairments: Impairments, canceller, change=None) -> Call:
    """Play ``far`` from the box and ``near`` from the caller over ``impairments``'
    echo path; ``canceller`` has ``capture(frame) -> frame`` and
    ``playback(frame)`` (None: no canceller). ``change=(seconds, Impairments)``
    swaps the echo path at that time."""
    n = max(len(far), 0 if near is None else len(near)) // FRAME_SAMPLES * FRAME_SAMPLES
    far = np.concatenate([pad(far), np.zeros(n, np.int16)])[:n]
    near = np.zeros(n, np.int16) if near is None else np.concatenate([pad(near), np.zeros(n, np.int16)])[:n]
    echo = np.zeros(n)
    heard = np.zeros(n, np.int16)
    clean = np.zeros(n, np.int16)
    pending = np.zeros(FRAME_SAMPLES)
    seconds = 0.0
    for i in range(0, n, FRAME_SAMPLES):
        if change and i == round(change[0] * RATE) // FRAME_SAMPLES * FRAME_SAMPLES:
            impairments = change[1]
        frame = slice(i, i + FRAME_SAMPLES)
        echo[frame] = pending
        heard_frame = impairments.line(near[frame].tobytes(), pending)
        heard[frame] = np.frombuffer(heard_frame, "<i2")
        sent = far[frame].tobytes()
        t = time.process_time()
        out = canceller.capture(heard_frame) if canceller else heard_frame
        if canceller:
            canceller.playback(sent)
        seconds += time.process_time() - t
        clean[frame] = np.frombuffer(out, "<i2")
        pending = impairments.echo(sent)
    return Call(far, near, echo, heard, clean, seconds)
