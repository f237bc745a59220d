"""Run one simulated inbound call against a TwiML URL, printing JSON events.

Each line of output is one event with ``t`` (call seconds) and ``event``.
The caller's side is a script, e.g. --caller "wait:prompt dtmf:1234#".
Time is virtual: a minute of call takes a fraction of a second.

The line can be impaired as a real one is: ``--line-echo 6dB,20ms`` (a
hybrid echo path coupling the box's own voice back into what it hears),
``--codec amr4.75`` (ulaw, gsm, amr12.2, amr4.75; join with +), ``--noise
-50`` (dBm0), ``--level -3`` (dB) and ``--clip -1`` (dBov), or all at once
as ``--impair "echo=6dB,20ms&codec=gsm"``. With an echo path the box runs
its echo canceller, as on a 2-wire line; ``--canceller off`` shows the line
without it.

Each run has fresh, private state: its cache, outbox and recordings live in a
temporary directory removed afterwards, so runs are independent. ``--state
DIR``, or an explicit ``[outbox] path`` / ``[cache] dir`` / ``[recordings] dir``
in the config, keeps them.
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
from contextlib import ExitStack, contextmanager
from pathlib import Path

from ..config import finite_number


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("url", help="the start document (http://, https:// or flows:/)")
    p.add_argument("--config", help="TOML config (default: /etc/ivrbox/config.toml, else the bundled one)")
    p.add_argument("--caller", default="", metavar="SCRIPT", help="the caller's steps, separated by spaces")
    p.add_argument("--from", dest="caller_id", metavar="N", help="the caller's number (From)")
    p.add_argument("--to", dest="called", metavar="N", help="the number called (To)")
    p.add_argument("--max-seconds", type=finite_number, default=600.0, metavar="S",
                   help="the caller hangs up after S call seconds (default 600)")
    p.add_argument("--record", metavar="WAV", help="write what the box said to this 8 kHz wav")
    p.add_argument("--impair", default="", metavar="SPEC",
                   help='line impairments in URL-query form, e.g. "echo=6dB,20ms&codec=amr4.75&noise=-50"')
    for flag, name, example in (("--line-echo", "echo", "6dB,20ms"), ("--codec", "codec", "amr4.75"),
                                ("--noise", "noise", "-50"), ("--level", "level", "-3"), ("--clip", "clip", "-1")):
        p.add_argument(flag, dest=f"impair_{name}", metavar=example.upper() if name == "codec" else example,
                       help=f"impairment {name} (as in --impair {name}={example})")
    p.add_argument("--canceller", choices=("on", "off"),
                   help="the box's echo canceller (default: on when there is an echo path)")
    p.add_argument("--state", metavar="DIR", help="keep the cache, outbox and recordings in DIR across runs "
                   "(default: a fresh temporary directory per run, unless the config names them)")


def caller_voice(tts) -> dict:
    """The simulated caller's makers, for SimLine: the box's own DTMF tones,
    audio decoder and speech synthesizer (numpy loads when a script first uses them)."""

    def tones(keys: str):
        from ..listen.tones import dtmf_audio

        return dtmf_audio(keys)

    def decode(data: bytes) -> bytes:
        from ..speak.audio import decode

        return decode(data).pcm

    return {"tones": tones, "decode": decode, "tts": tts}


def main(args: argparse.Namespace) -> int:
    import asyncio

    from drivers.line import LineError
    from drivers.sim import SimLine

    from ..call import Call
    from ..config import ConfigError, load
    from ..events import json_printer
    from ..listen import speech_models
    from ..recordings import Recordings
    from ..speak.tts import Synthesizer
    from ..web import build_fetcher

    try:
        config = load(args.config)
        config["server"]["url"] = args.url
        tts = Synthesizer.from_config(config)
        line = SimLine(script=args.caller, max_seconds=args.max_seconds,
                       caller=args.caller_id or config["call"]["from"], called=args.called or config["call"]["to"],
                       record=args.record, **line_options(args), **caller_voice(tts))
    except (ConfigError, LineError) as e:
        print(f"ivrbox simulate: {e}", file=sys.stderr)
        return 2

    async def simulate() -> None:
        models = speech_models(config, wait=True)
        fetcher = build_fetcher(config)
        recordings = Recordings(config, fetcher, models)  # serving from the first <Record>
        call = Call(line, config, fetcher=fetcher, tts=tts, speech_models=models, sinks=[json_printer(sys.stdout)],
                    recordings=recordings)
        recordings.warn = lambda message: call.emit("warning", message=message)
        try:
            await call.run(await line.wait_for_call())
        finally:
            await recordings.stop()         # the transcriptions and callbacks the call started
            await fetcher.close()

    with state_dir(config, args.state):
        asyncio.run(simulate())
    # The call is over. Finalise what it left (its outbox's database closes and
    # takes its write-ahead log back in), then spare the exit's collector a walk
    # over everything else, which only the process's end frees (25 ms here).
    gc.collect()
    gc.freeze()
    return 0


def line_options(args: argparse.Namespace) -> dict:
    """SimLine's impairment and canceller options from ``--impair`` and the single flags (which win)."""
    from urllib.parse import parse_qsl

    from drivers.constants import IMPAIRMENTS
    from drivers.line import LineError

    given = dict(parse_qsl(args.impair, keep_blank_values=True))
    unknown = sorted(set(given) - set(IMPAIRMENTS))
    if unknown:
        raise LineError(f"--impair: unknown impairment {unknown[0]!r} (options: {', '.join(IMPAIRMENTS)})")
    given.update({name: getattr(args, f"impair_{name}") for name in IMPAIRMENTS
                  if getattr(args, f"impair_{name}") is not None})
    if args.canceller:
        given["canceller"] = args.canceller
    return given


@contextmanager
def state_dir(config: dict, keep: str | None):
    """Point the cache, outbox and recordings the config leaves unset at DIR, or at a temporary directory."""
    if keep is None and (config["outbox"]["path"] or config["cache"]["dir"] or config["recordings"]["dir"]):
        yield
        return
    with ExitStack() as stack:
        root = Path(keep) if keep else Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ivrbox-sim-")))
        if keep or not config["cache"]["dir"]:
            config["cache"]["dir"] = str(root / "cache")
        if keep or not config["outbox"]["path"]:
            config["outbox"]["path"] = str(root / "outbox.sqlite")
        if keep or not config["recordings"]["dir"]:
            config["recordings"]["dir"] = str(root / "recordings")
        yield
