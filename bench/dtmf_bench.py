"""DTMF: our detector against spandsp and multimon-ng on the same corpus.

``python -m bench dtmf`` prints one row per case (Q.24 limits, talk-down),
talk-off false digits per hour of espeak-ng speech, the same detectors
through phone codecs (µ-law, GSM 06.10, AMR-NB 12.2 and 4.75; nominal
digits found and talk-off, bench/dtmf_codecs.py), and the speed of
streaming detection in 20 ms frames on one core, as a multiple of real time,
beside spandsp on the same files (a speech-heavy call and tone-dense audio).

Talk-off uses 600 espeak-ng voices by default (about an hour and a half of
speech, about a minute to run); ``python -m bench dtmf --long`` uses every
language, variant, speed and pitch in the corpus (2,880 voices, 7.3 hours,
about five minutes on two cores). ``DTMF_TALKOFF_VOICES=N`` picks any count.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import tempfile

import numpy as np

from bench.dtmf_codecs import codec_table
from bench.dtmf_corpus import limit_cases, talkdown_cases, talkoff_stream

HERE = pathlib.Path(__file__).parent
BUILD = HERE / "build"
HARNESS = BUILD / "dtmf_spandsp"


def build_spandsp() -> pathlib.Path:
    """Compile the spandsp harness into bench/build/ (if it is out of date)."""
    source = HERE / "dtmf_spandsp.c"
    if not HARNESS.exists() or HARNESS.stat().st_mtime < source.stat().st_mtime:
        BUILD.mkdir(exist_ok=True)
        subprocess.run(["gcc", "-O2", "-o", str(HARNESS), str(source), "-lspandsp", "-lm"], check=True)
    return HARNESS


def ours(pcm: np.ndarray) -> str:
    from firmware_app.speak.audio import frames
    from firmware_app.listen.dtmf import DtmfDetector

    detector = DtmfDetector()
    return "".join(detector.feed(frame) for frame in frames(pcm))


def spandsp(pcm: np.ndarray) -> str:
    with tempfile.NamedTemporaryFile(suffix=".raw") as f:
        pcm.astype("<i2").tofile(f.name)
        out = subprocess.run([str(build_spandsp()), f.name], check=True, capture_output=True, text=True)
    return out.stdout.strip()


def multimon(pcm: np.ndarray) -> str:
    """multimon-ng's DTMF demodulator, fed at 22050 Hz through sox."""
    raw8k = ["-t", "raw", "-r", "8000", "-e", "signed", "-b", "16", "-c", "1"]
    raw22k = ["-t", "raw", "-r", "22050", "-e", "signed", "-b", "16", "-c", "1"]
    sox = subprocess.run(["sox", *raw8k, "-", *raw22k, "-"], input=pcm.astype("<i2").tobytes(), capture_output=True, check=True)
    out = subprocess.run(
        ["multimon-ng", "-q", "-c", "-a", "DTMF", "-t", "raw", "-"], input=sox.stdout, capture_output=True, check=True
    )
    return "".join(line.split(":", 1)[1].strip() for line in out.stdout.decode().splitlines() if line.startswith("DTMF:"))


PEERS = {"ours": ours, "spandsp": spandsp, "multimon-ng": multimon}


def _cell(got: str, expect: str) -> str:
    if got == expect:
        return "pass"
    return f"FAIL {got or '-'}"[:22]


def score_cases(cases) -> dict[str, int]:
    failures = dict.fromkeys(PEERS, 0)
    for case in cases:
        row = [f"{case.name[:42]:42}", f"{case.expect[:16] or '-':16}"]
        for name, detect in PEERS.items():
            got = detect(case.audio)
            failures[name] += got != case.expect
            row.append(f"{_cell(got, case.expect):22}")
        print(" ".join(row), flush=True)
    return failures


def score_talkoff(cases) -> tuple[np.ndarray, dict[str, int]]:
    """False digits per hour of speech for every peer; returns the first two
    minutes of speech (for the speed test) and the false digits. Names the
    voices that fooled us."""
    hours, count = 0.0, 0
    false = dict.fromkeys(PEERS, 0)
    fooled = []
    sample = []
    for case in cases:
        hours += len(case.audio) / 8000 / 3600
        count += 1
        if sum(map(len, sample)) < 8000 * 120:
            sample.append(case.audio)
        for name, detect in PEERS.items():
            got = detect(case.audio)
            false[name] += len(got)
            if got and name == "ours":
                fooled.append(f"{case.name}: {got}")
    row = [f"{'talk-off: %d voices, %.1f min of speech' % (count, hours * 60):42}", f"{'false/hour':16}"]
    row += [f"{'%d (%.1f/h)' % (n, n / hours):22}" for n in false.values()]
    print(" ".join(row))
    for line in fooled:
        print(f"  ours fooled by {line}")
    return np.concatenate(sample)[: 8000 * 120], false


SPEED_SNIPPET = """
import os, sys, time, numpy as np
os.sched_setaffinity(0, {os.sched_getaffinity(0).pop()})
from firmware_app.listen.dtmf import DtmfDetector
pcm = np.fromfile(sys.argv[1], "<i2")
pcm = pcm[: len(pcm) // 160 * 160]
frames = [pcm[i : i + 160].tobytes() for i in range(0, len(pcm), 160)]
best = []
for _ in range(int(sys.argv[2])):
    det = DtmfDetector()
    t = time.perf_counter()
    for frame in frames:
        det.feed(frame)
    best.append((time.perf_counter() - t) / len(frames))
print(min(best))
"""


def speed(files: dict[str, np.ndarray], passes: int = 15) -> None:
    """Seconds per 20 ms frame for ours and spandsp, each pinned to one core,
    on each file in turn."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    cpu = str(os.sched_getaffinity(0).pop())
    print("\nspeed, 20 ms frames, one core (best of %d passes):" % passes)
    for label, pcm in files.items():
        with tempfile.NamedTemporaryFile(suffix=".raw") as f:
            pcm.astype("<i2").tofile(f.name)
            py = subprocess.run(
                [sys.executable, "-c", SPEED_SNIPPET, f.name, str(passes)],
                env=env, cwd=HERE.parent, capture_output=True, text=True, check=True,
            )
            ours_frame = float(py.stdout)
            c_times = []
            for _ in range(passes):
                out = subprocess.run(
                    ["taskset", "-c", cpu, str(build_spandsp()), f.name, "3"], capture_output=True, text=True, check=True
                )
                c_times.append(float(out.stderr) / (len(pcm) / 160))
            c_frame = min(c_times)
        print(f"  {label} ({len(pcm) / 8000:.0f} s):")
        for name, frame in (("ours (Python + numpy)", ours_frame), ("spandsp 0.0.6 (C)", c_frame)):
            print(f"    {name:24} {frame * 1e6:8.2f} us/frame  {0.02 / frame:10.0f}x real time")
        print(f"    ours takes {ours_frame / c_frame:.1f}x spandsp's time per frame")


def main() -> None:
    build_spandsp()
    voices = None if "--long" in sys.argv[1:] else int(os.environ.get("DTMF_TALKOFF_VOICES", "600"))
    header = f"{'case':42} {'expect':16} " + " ".join(f"{name:22}" for name in PEERS)
    print(header)
    print("-" * len(header))
    limits = limit_cases()
    fails = score_cases(limits)
    talkdown = talkdown_cases(12)
    for name, n in score_cases(talkdown).items():
        fails[name] += n
    speech, talkoff = score_talkoff(talkoff_stream(voices))
    print(f"{'cases failed (limits + talk-down)':42} {'':16} " + " ".join(f"{fails[n]:<22}" for n in PEERS))
    codec_table(PEERS, voices, talkoff)
    speed(
        {
            "speech-heavy: talk-down calls + talk-off speech": np.concatenate([c.audio for c in talkdown] + [speech]),
            "tone-dense: every Q.24 limit case": np.concatenate([c.audio for c in limits]),
        }
    )


if __name__ == "__main__":
    main()
