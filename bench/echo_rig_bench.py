"""The echo canceller on a real sound line over PulseAudio: how still the echo
path holds, and how fast and how far the canceller converges on it.

``python -m bench echo_rig`` plugs in a fake 48 kHz card (bench/pulse.py)
with a hybrid echo path inside PulseAudio (``LoopbackEcho``, 10 dB, 20 ms),
opens the FXO sound line on it (PyAudio, the line's canceller as in a
call: ``echo_delay=100``, 64 ms tail) and, for each of ``CALLS`` calls,
plays ``SECONDS`` of the box's Korean prompt (espeak-ng) frame by frame in
real time while the caller is silent. For each call:

- lag: where the echo lies, in samples, between the frames the canceller
  was given each way (what it must find), by cross-correlating them over
  0.2 s windows with the echo in them (sub-sample by parabolic fit); the
  spread of that lag within the call;
- the delay the canceller settled on and how often it moved;
- ERLE of its linear filter (without the NLP) per second, the time it
  first reaches 25 dB, and over the last 5 s.
"""

from __future__ import annotations

import asyncio

import numpy as np

from bench.echo_corpus import prompt
from drivers.constants import FRAME_BYTES, RATE

CALLS = 5
SECONDS = 15.0
TEXT = "안녕하세요 고객님 예약을 원하시면 지금 말씀해 주세요 이 안내는 길게 이어집니다 잠시만 기다려 주세요"
OPTIONS = "rate=48000&echo_delay=100"
WINDOW = 1600  # samples correlated per lag estimate: 0.2 s
MAX_LAG = 9600  # samples: 1.2 s


class Tap:
    """Passes the line's frames to its canceller (without the NLP) and keeps them."""

    def __init__(self, canceller) -> None:
        self.inner = canceller
        canceller._nlp = False
        self.far: list[bytes] = []
        self.near: list[bytes] = []
        self.clean: list[bytes] = []

    def playback(self, frame: bytes) -> None:
        self.far.append(frame)
        self.inner.playback(frame)

    def unplay(self, frames: int) -> None:
        del self.far[len(self.far) - frames:]
        self.inner.unplay(frames)

    def capture(self, frame: bytes, dropped: int = 0) -> bytes:
        self.near.append(frame)
        out = self.inner.capture(frame, dropped=dropped)
        self.clean.append(out)
        return out

    def __getattr__(self, name):
        return getattr(self.inner, name)


async def _call(line, pcm: bytes, seconds: float) -> None:
    await line.open()
    await line.wait_for_call()
    await line.answer()
    offset = 0
    for _ in range(round(seconds / 0.02)):
        await line.read_frame()
        await line.write_frame(pcm[offset:offset + FRAME_BYTES].ljust(FRAME_BYTES, b"\0"))
        offset = (offset + FRAME_BYTES) % len(pcm)
    await line.hangup()


def lags(far: np.ndarray, near: np.ndarray) -> list[float]:
    """The echo's lag in samples, per window of ``near`` with echo in it."""
    found = []
    for start in range(MAX_LAG, min(len(near), len(far)) - WINDOW, WINDOW):
        n = near[start:start + WINDOW]
        if n.std() < 30:
            continue
        f = far[start - MAX_LAG:start + WINDOW]
        c = np.correlate(f, n, "valid")[::-1]  # c[lag]
        lag = int(np.argmax(c))
        peer = f[MAX_LAG - lag:MAX_LAG - lag + WINDOW]
        if not 0 < lag < len(c) - 1 or c[lag] < 0.9 * np.linalg.norm(n) * np.linalg.norm(peer):
            continue
        a, b, d = c[lag - 1], c[lag], c[lag + 1]
        found.append(lag + 0.5 * (a - d) / (a - 2 * b + d))
    return found


def erle(near: np.ndarray, clean: np.ndarray, start: float, end: float) -> float:
    span = slice(int(start * RATE), int(end * RATE))
    return float(10 * np.log10(max(np.sum(near[span] ** 2), 1.0) / max(np.sum(clean[span] ** 2), 1.0)))


def main() -> None:
    from gpiozero.pins.mock import MockFactory

    from bench.pulse import LoopbackEcho, fake_card, unique
    from drivers import open_line
    from drivers.echo import from_options

    pcm = np.concatenate([prompt(TEXT, "ko"), np.zeros(RATE // 2, np.int16)]).tobytes()
    print(f"fake 48 kHz card, module-loopback hybrid 10 dB 20 ms, line options {OPTIONS}; "
          f"{CALLS} calls of {SECONDS:.0f} s of Korean prompt, silent caller")
    print(f"{'call':<6}{'lag (samples)':>15}{'spread':>8}{'delay':>8}{'moves':>7}{'to 25 dB':>10}"
          f"{'ERLE last 5 s':>15}  ERLE per second (dB)")
    medians = []
    for n in range(CALLS):
        with fake_card(unique("ivrbench_echo")) as card:
            path = LoopbackEcho(card, "10dB,20ms")
            try:
                line = open_line(f"sound://{card.name}?hook=GPIO17&{OPTIONS}", pin_factory=MockFactory())
                tap = line.canceller = Tap(from_options(line.echo, two_wire=True))  # as its answer makes it
                asyncio.run(_call(line, pcm, SECONDS))
            finally:
                path.stop()
        far, near, clean = (np.frombuffer(b"".join(x), "<i2").astype(float) for x in (tap.far, tap.near, tap.clean))
        found = lags(far, near)
        median = float(np.median(found)) if found else float("nan")
        medians.append(median)
        spread = max(found) - min(found) if found else float("nan")
        per_second = [erle(near, clean, t, t + 1) for t in range(int(SECONDS))]
        first = next((t + 1 for t, e in enumerate(per_second) if e >= 25), None)
        state = tap.inner.state
        print(f"{n + 1:<6}{median:>15.1f}{spread:>8.1f}{state.delay_ms:>6} ms{state.moves:>7}"
              f"{'never' if first is None else f'{first} s':>10}{erle(near, clean, SECONDS - 5, SECONDS):>12.1f} dB  "
              + " ".join(f"{e:.0f}" for e in per_second))
    print(f"between calls: lag {min(medians):.1f}-{max(medians):.1f} samples "
          f"({(max(medians) - min(medians)) / RATE * 1000:.1f} ms); ERLE is the linear filter's, without the NLP. "
          "Seconds count from the first frame of the call: the prompt starts at once.")


if __name__ == "__main__":
    main()
