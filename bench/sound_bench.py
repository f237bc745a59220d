"""The sound line's resampler against soxr's streaming one, on the same audio.

``python -m bench sound``. Each resampler gets the card's audio in 40 ms
chunks (the sound card's playback period), as the line would give it:

- cost: microseconds per 20 ms of audio;
- SNR: a 1 kHz tone through it, against the exact tone at the new rate;
- alias: 48 kHz -> 8 kHz only, a 5.5 kHz tone in (it would fold to 2.5 kHz),
  its output level against the 1 kHz tone's, in dB (lower is better);
- held: the most audio, in ms, that went in before any came out or between
  two outputs: what the resampler adds to the line's latency.

soxr's HQ and MQ hold 100 ms and more (they filter in large blocks), which a
phone line would hear as a later barge-in and a longer echo path; QQ holds
nothing but is a cubic interpolator with no anti-alias filter.
"""

import time

import numpy as np
import soxr

from drivers.resample import Resampler

CHUNK_SECONDS = 0.04


class Soxr:
    def __init__(self, rate_in, rate_out, quality):
        self.stream = soxr.ResampleStream(rate_in, rate_out, 1, dtype="int16", quality=quality)

    def __call__(self, samples):
        return self.stream.resample_chunk(samples)


def tone(freq, rate, seconds=2.0, level=8000):
    t = np.arange(int(rate * seconds)) / rate
    return (level * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def chunks(samples, rate):
    n = round(rate * CHUNK_SECONDS)
    return [samples[i:i + n] for i in range(0, len(samples), n)]


def run(make, samples, rate):
    out, held, longest = [], 0, 0
    for chunk in chunks(samples, rate):
        y = make(chunk)
        held = 0 if len(y) else held + len(chunk)
        longest = max(longest, held)
        out.append(y)
    return np.concatenate(out), longest / rate * 1000


def snr(y, freq, rate):
    """The tone's SNR in y (dB): its best least-squares sine fit against the rest, past the start-up."""
    y = y[len(y) // 4: len(y) * 3 // 4].astype(float)
    t = np.arange(len(y)) / rate
    basis = np.stack([np.sin(2 * np.pi * freq * t), np.cos(2 * np.pi * freq * t)], axis=1)
    fit = basis @ np.linalg.lstsq(basis, y, rcond=None)[0]
    return 10 * np.log10((fit ** 2).sum() / ((y - fit) ** 2).sum())


def cost(make, samples, rate, repeat=3):
    best = float("inf")
    for _ in range(repeat):
        r, parts = make(), chunks(samples, rate)
        start = time.perf_counter()
        for chunk in parts:
            r(chunk)
        best = min(best, (time.perf_counter() - start) / (len(samples) / rate / 0.02) * 1e6)
    return best


def main() -> None:
    print(f"{'direction':<16}{'resampler':<14}{'us/20 ms':>10}{'SNR dB':>9}{'alias dB':>10}{'held ms':>9}")
    for rate_in, rate_out in ((48000, 8000), (8000, 48000), (44100, 8000), (8000, 44100)):
        makers = {"ours": lambda: Resampler(rate_in, rate_out)}
        makers.update({f"soxr {q}": (lambda q=q: Soxr(rate_in, rate_out, q)) for q in ("HQ", "MQ", "QQ")})
        base = None
        for name, make in makers.items():
            y, held = run(make(), tone(1000, rate_in), rate_in)
            alias = ""
            if rate_out == 8000:
                folded, _ = run(make(), tone(5500, rate_in), rate_in)
                level = np.sqrt((folded[len(folded) // 4:].astype(float) ** 2).mean())
                alias = f"{20 * np.log10(max(level, 1e-3) / np.sqrt((y[len(y) // 4:].astype(float) ** 2).mean())):.0f}"
            us = cost(make, tone(1000, rate_in), rate_in)
            base = base or us
            print(f"{rate_in:>6} -> {rate_out:<6}  {name:<14}{us:>10.1f}{snr(y, 1000, rate_out):>9.1f}"
                  f"{alias:>10}{held:>9.0f}")
