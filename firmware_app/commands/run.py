"""Run the box: answer calls on the configured line, one after another.

With the bundled default this is the console line running the demo flow:
type keys on the terminal, and the prompts are printed (and spoken through
the default sound device when there is one).
"""

from __future__ import annotations

import argparse
import logging
import sys


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="TOML config (default: /etc/ivrbox/config.toml, else the bundled one)")
    p.add_argument("--line", help="override [line] url, e.g. console:, modem:///dev/ttyACM0, sound://USB")
    p.add_argument("--calls", type=int, default=0, help="stop after this many calls (default: run forever)")
    p.add_argument("--verbose", action="store_true", help="log every call event even on the console line")


def main(args: argparse.Namespace) -> int:
    import asyncio

    from drivers import LineError

    from ..config import ConfigError, load

    try:
        config = load(args.config)
        if args.line:
            config["line"]["url"] = args.line
    except ConfigError as e:
        print(f"ivrbox run: {e}", file=sys.stderr)
        return 2
    # The console line prints the call itself; the log would only repeat it.
    quiet = config["line"]["url"].startswith("console:") and not args.verbose
    logging.basicConfig(level=logging.WARNING if quiet else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        asyncio.run(serve(config, args.calls))
    except LineError as e:
        print(f"ivrbox run: {e}", file=sys.stderr)
        return 1
    return 0


async def serve(config: dict, calls: int = 0, line=None, sinks=()) -> int:
    """Answer calls on the line until ``calls`` have been taken (0: forever). Returns the count."""
    import asyncio

    from drivers import HungUp, open_line

    from ..call import Call
    from ..events import logger
    from ..listen import speech_models
    from ..notify import notify, watchdog
    from ..speak.tts import Synthesizer
    from ..web import build_fetcher

    log = logging.getLogger("ivrbox")
    line = line or open_line(config["line"]["url"])
    web, tts = build_fetcher(config), Synthesizer()
    models = speech_models(config, wait=False)
    taken = 0
    pinger = asyncio.create_task(watchdog())
    try:
        async with line:
            notify("READY=1", f"STATUS=waiting for calls on {config['line']['url']}")
            log.info("ready on %s, start document %s", config["line"]["url"], config["server"]["url"])
            while not calls or taken < calls:
                try:
                    info = await line.wait_for_call()
                except HungUp:
                    break
                call = Call(line, config, web=web, tts=tts, speech_models=models, sinks=[*sinks])
                call.events.sinks.append(logger(call.sid))
                log.info("%s call from %s", call.sid[:10], info.caller or "unknown")
                taken += 1
                notify(f"STATUS=in call {call.sid} ({taken} taken)")
                await call.run(info)
                notify(f"STATUS=waiting for calls ({taken} taken)")
    finally:
        notify("STOPPING=1")
        pinger.cancel()
    return taken
