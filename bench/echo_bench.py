"""Line echo cancellers on a hybrid echo path, with the box's real prompts.

``python -m bench echo`` plays the box's prompts (espeak-ng speech and
``<Play digits>`` tones, bench/echo_corpus.py) through drivers.impair's
hybrid (return loss 10 dB or 6 dB, 20 ms, dispersive) and compares, in the
same run and on the same audio:

- drivers.echo (speexdsp's MDF filter and its start-up NLP), the box's;
- speexdsp's MDF filter alone;
- spandsp 0.0.6's G.168 line echo canceller (bench/echo_spandsp.c), with
  adaption only and with its NLP;
- WebRTC's AEC3 (PyPI pywebrtc-audio, in the ``test`` extra);
- no canceller.

For each: ERLE per second and the time it first reaches 25 dB; ERLE after
convergence (the last 10 s); the caller's speech through double talk (SNR
against the caller through the same canceller without echo); the time to
25 dB again after the echo path changes (to 6 dB, 5 ms); digits our DTMF
detector hears in the echo of ``<Play digits>`` at the start of a call;
false barge-ins (prompts in which voice activity starts) with a silent
caller; and CPU seconds per call-second.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time

import numpy as np

from bench.echo_corpus import PROMPTS, Call, play_digits, prompt, prompts, run_call
from bench.dtmf_corpus import TEXTS
from drivers.echo import EchoCanceller
from drivers.impair import Impairments
from drivers.constants import FRAME_SAMPLES, RATE

from bench.dtmf_bench import BUILD, HERE

TAIL_MS = 64
SPANDSP = BUILD / "echo_spandsp"
ECHO_CAN_USE_ADAPTION, ECHO_CAN_USE_NLP = 0x01, 0x02


def build_spandsp():
    source = HERE / "echo_spandsp.c"
    if not SPANDSP.exists() or SPANDSP.stat().st_mtime < source.stat().st_mtime:
        BUILD.mkdir(exist_ok=True)
        subprocess.run(["gcc", "-O2", "-o", str(SPANDSP), str(source), "-lspandsp", "-lm"], check=True)
    return SPANDSP


def _speex(nlp: bool):
    def cancel(far: np.ndarray, heard: np.ndarray) -> tuple[np.ndarray, float]:
        ec = EchoCanceller(tail_ms=TAIL_MS, nlp=nlp)
        out = np.zeros_like(heard)
        t = time.process_time()
        for i in range(0, len(heard), FRAME_SAMPLES):
            out[i : i + FRAME_SAMPLES] = np.frombuffer(ec.capture(heard[i : i + FRAME_SAMPLES].tobytes()), "<i2")
            ec.playback(far[i : i + FRAME_SAMPLES].tobytes())
        return out, time.process_time() - t

    return cancel


def _spandsp(mode: int):
    def cancel(far: np.ndarray, heard: np.ndarray) -> tuple[np.ndarray, float]:
        # frame i of far is sent while frame i + 1 is heard: spandsp pairs samples
        tx = np.concatenate([np.zeros(FRAME_SAMPLES, np.int16), far[:-FRAME_SAMPLES]])
        with tempfile.TemporaryDirectory() as tmp:
            paths = [os.path.join(tmp, name) for name in ("tx.raw", "rx.raw", "out.raw")]
            tx.astype("<i2").tofile(paths[0])
            heard.astype("<i2").tofile(paths[1])
            run = subprocess.run(
                [str(build_spandsp()), str(TAIL_MS * RATE // 1000), str(mode), *paths],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=True,
            )
            return np.fromfile(paths[2], "<i2"), float(run.stderr)

    return cancel


def _webrtc(far: np.ndarray, heard: np.ndarray) -> tuple[np.ndarray, float]:
    from pywebrtc_audio import AudioProcessor

    ec = AudioProcessor(sample_rate=RATE, echo_cancellation=True)
    out = np.zeros_like(heard)
    sent = np.zeros(FRAME_SAMPLES, np.int16)
    t = time.process_time()
    for i in range(0, len(heard), FRAME_SAMPLES):
        out[i : i + FRAME_SAMPLES] = ec.process(heard[i : i + FRAME_SAMPLES].copy(), sent)
        sent = far[i : i + FRAME_SAMPLES].copy()
    return out, time.process_time() - t


def _none(far: np.ndarray, heard: np.ndarray) -> tuple[np.ndarray, float]:
    return heard.copy(), 0.0


CANCELLERS = {
    "drivers.echo": _speex(True),
    "speexdsp alone": _speex(False),
    "spandsp LEC": _spandsp(ECHO_CAN_USE_ADAPTION),
    "spandsp LEC+NLP": _spandsp(ECHO_CAN_USE_ADAPTION | ECHO_CAN_USE_NLP),
    "WebRTC AEC3": _webrtc,
    "none": _none,
}


def cancelled(call: Call, cancel) -> Call:
    clean, seconds = cancel(call.far, call.heard)
    return Call(call.far, call.near, call.echo, call.heard, clean[: len(call.heard)], seconds)


def time_to(call: Call, db: float, start: float = 0.0) -> float | None:
    """Seconds from ``start`` until ERLE over a second first reaches ``db``."""
    t = start
    while t + 1 <= len(call.far) / RATE:
        if call.erle_db(t, t + 1) >= db:
            return t + 1 - start
        t += 0.5
    return None


def barge_ins(call: Call, starts: list[int]) -> int:
    """Prompts (starting at the samples ``starts``) in which voice activity
    starts: each would have been cut off by its own echo."""
    from firmware_app.listen.vad import VoiceActivity

    vad = VoiceActivity()
    cut = 0
    bounds = [*starts, len(call.clean)]
    for a, b in zip(bounds, bounds[1:]):
        vad.reset()
        cut += any(vad.feed(call.clean[i : i + FRAME_SAMPLES].tobytes()) == "start" for i in range(a, b, FRAME_SAMPLES))
    return cut


def with_underruns(talk: np.ndarray, starts: list[int], path: Impairments) -> Call:
    """TALK over PATH with 5-40 ms of silence played in the middle of each prompt
    that the canceller is not told of: a card's underrun on a loaded machine."""
    rng = np.random.default_rng(7)
    pieces, last = [], 0
    for a, b in zip(starts, [*starts[1:], len(talk)]):
        middle = (a + b) // 2
        pieces += [talk[last:middle], np.zeros(int(rng.integers(40, 321)), np.int16)]
        last = middle
    played = np.concatenate([*pieces, talk[last:]])[: len(talk)]
    call = run_call(played, None, path, None)
    return Call(talk, call.near, call.echo, call.heard, call.clean, call.seconds)


def digits(pcm: np.ndarray) -> str:
    from firmware_app.speak.audio import frames
    from firmware_app.listen.dtmf import DtmfDetector

    det = DtmfDetector()
    return "".join(det.feed(frame) for frame in frames(pcm))


def _fmt(x: float | None, unit: str = "") -> str:
    return "never" if x is None else f"{x:.1f}{unit}"


def _db(x: float) -> str:
    """Muted output has no residue to measure: show it as over 90 dB."""
    return "> 90 dB" if x > 90 else f"{x:.1f} dB"


def main() -> None:
    build_spandsp()
    far = prompts()
    far2 = np.concatenate([far, far])
    seconds = len(far) / RATE
    caller = prompt("Hello, I would like to speak to someone about my bill, please.", "en-gb+f3")
    dt_start = int(seconds + 3) * RATE
    near = np.concatenate([np.zeros(dt_start, np.int16), caller])
    said = [prompt(t) for t in (*PROMPTS, TEXTS["en-us"], TEXTS["en-gb"])] * 4
    talk = np.concatenate(said)
    starts = list(np.cumsum([0] + [len(p) for p in said[:-1]]))
    names = list(CANCELLERS)
    print(f"far end: the box's prompts, {seconds:.1f} s (speech, <Play digits>, speech); tail {TAIL_MS} ms")
    for loss in (10, 6):
        path = Impairments(echo_db=loss, echo_ms=20)
        print(f"\nhybrid: {loss} dB return loss, 20 ms, dispersive")
        runs = {
            "converge": run_call(far2, None, path, None),
            "double": run_call(far2, near, path, None),
            "change": run_call(far2, None, path, None, change=(seconds, Impairments(echo_db=6, echo_ms=5))),
            "digits": run_call(play_digits("1234567890*#ABCD"), None, path, None),
            "talk": run_call(talk, None, path, None),
            "underruns": with_underruns(talk, starts, path),
        }
        quiet = run_call(np.zeros(len(near), np.int16), near, Impairments(), None)
        header = f"  {'':34}" + "".join(f"{n:>17}" for n in names)
        print(header)
        rows: dict[str, list[str]] = {}
        for name in names:
            cancel = CANCELLERS[name]
            conv = cancelled(runs["converge"], cancel)
            dt = cancelled(runs["double"], cancel)
            ref = cancelled(quiet, cancel)
            span = slice(dt_start, dt_start + len(caller))
            x, y = ref.clean[span].astype(float), dt.clean[span].astype(float)
            snr = 10 * np.log10(np.sum(x**2) / max(np.sum((y - x) ** 2), 1e-9))
            after = (dt_start + len(caller)) / RATE
            change = cancelled(runs["change"], cancel)
            echo_digits = digits(cancelled(runs["digits"], cancel).clean)
            talk_call = cancelled(runs["talk"], cancel)
            cells = {
                "ERLE 0-1, 1-2, 2-3 s (dB)": ",".join(f"{min(conv.erle_db(t, t + 1), 90):.0f}" for t in range(3)),
                "time to 25 dB ERLE": _fmt(time_to(conv, 25), " s"),
                "ERLE after convergence, last 10 s": _db(conv.erle_db(-10)),
                "double talk: the caller's SNR": f"{snr:.1f} dB",
                "ERLE, 3 s after the double talk": _db(dt.erle_db(after, after + 3)),
                "path change: back to 25 dB in": _fmt(time_to(change, 25, seconds), " s"),
                "<Play digits> echo heard as keys": echo_digits or "none",
                "prompts cut by their echo": f"{barge_ins(talk_call, starts)} of {len(said)}",
                "... with an underrun in each": f"{barge_ins(cancelled(runs['underruns'], cancel), starts)} of {len(said)}",
                "CPU s per call-second": f"{(conv.seconds / (len(far2) / RATE)):.4f}",
            }
            for label, cell in cells.items():
                rows.setdefault(label, []).append(cell)
        for label, cells in rows.items():
            print(f"  {label:34}" + "".join(f"{c[:16]:>17}" for c in cells))
    print(f"\nprompts cut: {len(said)} prompts one after another ({len(talk) / RATE / 60:.1f} min) with a silent caller,"
          " from an unconverged start; one that voice activity (webrtcvad, as a gather) starts in is a false barge-in."
          "\nan underrun: 5-40 ms of silence the card played in mid-prompt, which the canceller is not told of."
          "\ndrivers.echo's adaptive filter alone is the speexdsp column; frames its NLP mutes count as > 90 dB."
          "\nspandsp: Debian's 0.0.6 (it prints two debug lines per sample); WebRTC: AEC3 from PyPI pywebrtc-audio."
          "\nCPU: Python process time for drivers.echo, speexdsp (ctypes) and WebRTC, the C loop's for spandsp.")


if __name__ == "__main__":
    main()
