"""What resampling one 20 ms frame costs, against miniaudio's converter.

``python -m bench sound``. The peer is ``miniaudio.convert_frames`` on the
same frame (stateless, so it would click at every frame edge: the sound line
cannot use it, but it is the cost of a C resampler called from Python).
"""

import time

import miniaudio
import numpy as np

from drivers.resample import Resampler

S16 = miniaudio.SampleFormat.SIGNED16


def per_frame(fn, frame, repeat=2000) -> float:
    fn(frame)
    start = time.perf_counter()
    for _ in range(repeat):
        fn(frame)
    return (time.perf_counter() - start) / repeat * 1e6


def main() -> None:
    rng = np.random.default_rng(0)
    print(f"{'direction':<18}{'ours us/frame':>15}{'miniaudio us':>14}{'ratio':>8}")
    for rate_in, rate_out in ((48000, 8000), (8000, 48000), (44100, 8000), (8000, 44100)):
        frame = (rng.standard_normal(rate_in // 50) * 3000).astype(np.int16)
        ours = per_frame(Resampler(rate_in, rate_out), frame)
        pcm = frame.tobytes()
        peer = per_frame(lambda _: miniaudio.convert_frames(S16, 1, rate_in, pcm, S16, 1, rate_out),
                         frame)
        print(f"{rate_in:>6} -> {rate_out:<8}{ours:>15.1f}{peer:>14.1f}{ours / peer:>8.2f}")
