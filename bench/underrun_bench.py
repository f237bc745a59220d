"""Underruns the echo canceller is not told of: how often the echo gets through.

``python -m bench underrun``. A sound card that misses its deadline on a
loaded box (a Pi Zero 2 W) plays silence nobody counts, and from then on
the echo comes back later than the canceller's filter has learnt. Method:
the box's prompts (bench/echo_corpus.py) twice over drivers.impair's
hybrid (140 ms away, behind a 100 ms bulk delay and a 64 ms tail, as a
sound card's round trip), with one underrun once the filter has converged:
3-50 ms of silence, starting 17 or 101 samples into a frame, at 18 places
in the prompts, over a 6 and a 10 dB hybrid; 504 calls in all. A call
counts if webrtcvad (as a gather) starts on what the canceller lets through
after the underrun: a false barge-in that cuts the prompt. Its price is
measured too: the caller's speech through double talk (48 calls), which a
canceller that suspects its filter too readily mutes. Both run on the
canceller at ``BASE`` (its code unpacked with ``git archive``), in the same
run, as the previous design.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

BASE = "ac7c66f7b0fbca91b722d928f9e685d3e6a8f0ce"  # drivers.echo before it watched what its filter takes off
# What makes the calls, run from each tree: it must be the same in both, or the trees hear different calls.
HARNESS = ("bench/echo_corpus.py", "drivers/constants.py", "drivers/impair.py", "firmware_app/listen/vad.py",
           "firmware_app/speak/audio.py", "firmware_app/listen/tones.py")
LOSSES = (6, 10)
PHASES = (17, 101)  # samples into the frame where the underrun starts
OFFSETS = range(7, 400, 23)  # frames after the prompts' first pass
GAPS = (24, 40, 56, 120, 200, 320, 400)  # samples of silence: 3-50 ms
CALLERS = (("Hello, I would like to speak to someone about my bill, please.", "en-gb+f3"),
           ("I need to talk to an agent right now.", "en-us+m3"))


@functools.cache
def far_end() -> np.ndarray:
    from bench.echo_corpus import prompts

    return np.concatenate([prompts(), prompts()])


def underrun(gap: int, at: int, loss: int = 10):
    """A call whose card, once the canceller has converged, plays GAP samples of
    silence nobody counts before sample AT: (frames where voice activity starts
    after it, the canceller)."""
    from drivers.constants import FRAME_BYTES, FRAME_SAMPLES
    from drivers.echo import EchoCanceller
    from drivers.impair import Impairments
    from firmware_app.listen.vad import VoiceActivity

    sent = far_end()
    played = np.concatenate([sent[:at], np.zeros(gap, np.int16), sent[at:]])[: len(sent)]
    path, canceller = Impairments(echo_db=loss, echo_ms=140), EchoCanceller(tail_ms=64, delay_ms=100)
    pending, vad, starts = np.zeros(FRAME_SAMPLES), VoiceActivity(), []
    for i in range(0, len(sent) // FRAME_SAMPLES * FRAME_SAMPLES, FRAME_SAMPLES):
        if vad.feed(canceller.capture(path.line(bytes(FRAME_BYTES), pending))) == "start" and i >= at:
            starts.append(i // FRAME_SAMPLES)
        canceller.playback(sent[i : i + FRAME_SAMPLES].tobytes())
        pending = path.echo(played[i : i + FRAME_SAMPLES].tobytes())
    return starts, canceller


def sweep() -> dict[tuple[int, int], int]:
    """False voice starts per (loss, phase), over OFFSETS x GAPS."""
    from drivers.constants import FRAME_SAMPLES

    first = len(far_end()) // 2 // FRAME_SAMPLES
    return {(loss, phase): sum(bool(underrun(gap, (first + offset) * FRAME_SAMPLES + phase, loss)[0])
                               for offset in OFFSETS for gap in GAPS)
            for loss in LOSSES for phase in PHASES}


def double_talk() -> list[float]:
    """The price: the caller's SNR (dB) through double talk, a canceller that
    suspects too readily mutes the caller. Two callers at 0, -6 and -12 dB,
    starting at four points of the prompts, over a 6 and a 10 dB hybrid."""
    from bench.echo_corpus import prompt, run_call
    from drivers.constants import RATE
    from drivers.echo import EchoCanceller
    from drivers.impair import Impairments

    far = far_end()
    snrs = []
    for text, voice in CALLERS:
        caller = prompt(text, voice)
        for loss in LOSSES:
            for level in (0, -6, -12):
                for start in (4.0, 9.5, 13.0, 20.0):
                    said = (caller * 10 ** (level / 20)).astype(np.int16)
                    near = np.concatenate([np.zeros(int(start * RATE), np.int16), said])
                    call = run_call(far, near, Impairments(echo_db=loss, echo_ms=20), EchoCanceller(tail_ms=64))
                    alone = run_call(np.zeros(len(far), np.int16), near, Impairments(), EchoCanceller(tail_ms=64))
                    span = slice(int(start * RATE), int(start * RATE) + len(said))
                    ref, out = alone.clean[span].astype(float), call.clean[span].astype(float)
                    snrs.append(10 * np.log10(np.sum(ref**2) / max(np.sum((out - ref) ** 2), 1.0)))
    return snrs


def measured_at(tree: Path) -> dict:
    """``sweep`` and ``double_talk`` run on the drivers in TREE, in a Python of its own."""
    out = subprocess.run([sys.executable, __file__], cwd=tree, env=dict(os.environ, PYTHONPATH=str(tree)),
                         check=True, stdout=subprocess.PIPE, text=True).stdout
    return json.loads(out)


def main() -> None:
    from bench.cpu_bench import ROOT, source_tree

    print(__doc__.split("\n\n")[1].replace("\n", " "))
    changed = subprocess.run(["git", "-C", str(ROOT), "diff", "--name-only", BASE, "--", *HARNESS],
                             check=True, capture_output=True, text=True).stdout.split()
    if changed:
        raise SystemExit(f"bench underrun: {', '.join(changed)} changed since {BASE[:7]}: move BASE on")
    with source_tree(BASE) as tree:
        before = measured_at(tree)
    after = measured_at(ROOT)
    calls = len(OFFSETS) * len(GAPS)
    print(f"\n{'hybrid, underrun start':<34}{'before':>10}{'after':>10}   false voice starts, of {calls} calls")
    for key in before["sweep"]:
        loss, phase = key.split()
        print(f"{f'{loss} dB, {phase} samples in':<34}{before['sweep'][key]:>10}{after['sweep'][key]:>10}")
    total = calls * len(before["sweep"])
    print(f"{'all':<34}{sum(before['sweep'].values()):>10}{sum(after['sweep'].values()):>10}   of {total}")
    b, a = np.array(before["double talk"]), np.array(after["double talk"])
    lower, higher = int((a < b - 0.3).sum()), int((a > b + 0.3).sum())
    print(f"\ndouble talk, the caller's SNR over {len(a)} calls (dB):  mean {b.mean():.1f} -> {a.mean():.1f}, "
          f"worst {b.min():.1f} -> {a.min():.1f}; {lower} calls lower, {higher} higher")


if __name__ == "__main__":
    print(json.dumps({"sweep": {f"{loss} {phase}": n for (loss, phase), n in sweep().items()},
                      "double talk": double_talk()}))
