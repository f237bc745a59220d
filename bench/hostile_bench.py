"""Hostile input: the box's peak memory for each, and how soon a long <Say> is heard.

``python -m bench hostile``. Each hostile input is played in a real
``ivrbox simulate`` call against a local HTTP server; the peak RSS is the
command's own (bench/measured.py). The peer is the same call playing a one-word <Say>,
measured in the same run. Time to first audio is wall time from the start of
a 4,096-character <Say> until its first PCM reaches the player; the peer is
synthesising the same text in one espeak-ng run, as the box used to.
"""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path

from bench.hostile_media import flac_silence, long_text, wav
from bench.measured import run_measured
from bench.twiml_server import TwimlServer
from firmware_app.config import defaults
from firmware_app.speak.audio import decode
from firmware_app.speak.player import Player
from firmware_app.speak.speaker import Speaker
from firmware_app.speak.tts import Synthesizer

IVRBOX = str(Path(sys.executable).with_name("ivrbox"))
LIMIT_MB = 120
CASES = [
    # (name, TwiML, extra routes, config)
    ("one-word <Say> (peer)", "<Say>Hello</Say>", {}, ""),
    ("10 h FLAC of silence", "<Play>/silence.flac</Play>",
     {"/silence.flac": (200, {"Content-Type": "audio/flac"}, flac_silence(36000))}, ""),
    ("WAV declaring 1 Hz", "<Play>/onehertz.wav</Play>",
     {"/onehertz.wav": (200, {"Content-Type": "audio/wav"}, wav(bytes(100_000), rate=1))}, ""),
    ("10,000 'w' digits", f'<Play digits="{"w" * 10_000}"/>', {}, "[media]\nmax_play_digits = 10000\n"),
    ("60 KB <Say>", f"<Say>{long_text(60 * 1024)}</Say>", {}, ""),
]
SAY = long_text(4096)


def peak(twiml: str, routes: dict, config: str) -> tuple[float, float, int]:
    with tempfile.TemporaryDirectory() as tmp, \
            TwimlServer({"/ivr": f"<Response>{twiml}</Response>", **routes}) as server:
        path = Path(tmp) / "config.toml"
        path.write_text(config)
        start = time.perf_counter()
        run = run_measured([IVRBOX, "simulate", server.url("/ivr"), "--max-seconds", "6000",
                            "--config", str(path)], timeout=600)
        return run.peak_mb, time.perf_counter() - start, run.returncode


async def first_audio() -> float:
    player = Player()
    speaker = Speaker(player, Synthesizer(), defaults(), lambda *args, **fields: None, nullcontext)
    start = time.perf_counter()
    saying = asyncio.create_task(speaker.say(SAY, "man", "en-US"))
    while not player.buffered:
        await asyncio.sleep(0.0005)
    seconds = time.perf_counter() - start
    saying.cancel()
    await asyncio.gather(saying, return_exceptions=True)
    return seconds


def whole_text() -> float:
    start = time.perf_counter()
    out = subprocess.run(["espeak-ng", "-v", "en-us", "--stdout"], input=SAY.encode(),
                         capture_output=True, check=True).stdout
    decode(out)
    return time.perf_counter() - start


def main() -> None:
    print(f"{'call playing':<24}{'peak RSS MB':>12}{'x peer':>8}{'wall s':>8}  under {LIMIT_MB} MB")
    base = None
    for name, twiml, routes, config in CASES:
        mb, wall, rc = peak(twiml, routes, config)
        base = base or mb
        ok = "yes" if mb < LIMIT_MB and rc == 0 else f"NO (exit {rc})"
        print(f"{name:<24}{mb:>12.1f}{mb / base:>8.2f}{wall:>8.1f}  {ok}")
    firsts = [asyncio.run(first_audio()) for _ in range(5)]
    wholes = [whole_text() for _ in range(5)]
    first, whole = statistics.median(firsts), statistics.median(wholes)
    print(f"\n4,096-character <Say>, median of 5 (wall ms)")
    print(f"{'first audio':<32}{1000 * first:>8.0f}")
    print(f"{'whole text at once (peer)':<32}{1000 * whole:>8.0f}")
    print(f"{'ratio first / peer':<32}{first / whole:>8.3f}")
