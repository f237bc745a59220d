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
    from ..console import problem

    if problem(config):
        print(f"ivrbox run: {problem(config)}", file=sys.stderr)
        return 2
    # The console line prints the call itself; the log would only repeat it.
    urls = config["line"]["url"]
    quiet = (urls == "console:" or urls == ["console:"]) and not args.verbose
    logging.basicConfig(level=logging.WARNING if quiet else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        asyncio.run(serve(config, args.calls))
    except LineError as e:  # a line URL that cannot even be built (bad options)
        print(f"ivrbox run: {e}", file=sys.stderr)
        return 1
    return 0


async def serve(config: dict, calls: int = 0, line=None, sinks=()) -> int:
    """Answer calls on every configured line (or on ``line``) until ``calls``
    have been taken in all (0: forever). Returns the count."""
    import asyncio

    from ..console.live import Tee
    from ..listen import speech_models
    from ..notify import Progress, notify, watchdog, watchdog_interval
    from ..recordings import Recordings
    from ..speak.tts import Synthesizer
    from ..web import build_fetcher

    urls = config["line"]["url"]
    urls = [urls] if isinstance(urls, str) else urls
    tts = Synthesizer.from_config(config)
    lines = [line] if line is not None else [open_url(url, tts) for url in urls]
    fetcher, models = build_fetcher(config), speech_models(config)
    recordings = Recordings(config, fetcher, models, warn=logging.getLogger("ivrbox.recordings").warning)
    if not await recordings.start():
        logging.getLogger("ivrbox").error("<Record> will not record: %s", recordings.problem)
    shared = {"fetcher": fetcher, "tts": tts, "speech_models": models, "recordings": recordings}
    reporter = _reporter(config, shared, len(lines))
    console = await _console(config, shared, [(url, type(each).__name__) for url, each in zip(urls, lines)])
    if console is not None:
        reporter = Tee(reporter, console.live)
    counter = Counter(calls)
    progress = Progress(patience=max(STUCK_SECONDS, (watchdog_interval() or 0) / 2))
    pinger = asyncio.create_task(watchdog(progress.alive))
    warm = models is not None and config["speech"]["warm_up"]
    warming = asyncio.create_task(models.warm_up(tts)) if warm else None
    reporter.start()
    notify("READY=1", f"STATUS=answering on {', '.join(urls)}")
    try:
        async with asyncio.TaskGroup() as tg:
            for n, each in enumerate(lines, 1):
                tg.create_task(_serve_line(each, config, shared, counter, sinks, reporter, n, progress))
    finally:
        notify("STOPPING=1")
        pinger.cancel()
        if warming is not None:
            warming.cancel()
        if console is not None:
            await console.stop()
        await recordings.stop()
        await shared["fetcher"].close()  # the HTTP session, the breaker's probes, the outbox retries
        await reporter.close()
    return counter.taken


async def _console(config: dict, shared: dict, lines: list[tuple[str, str]]):
    """The web console, when [console] listen is set. One that may not start (a password is
    missing) stops the box; one that cannot listen (the port is taken) leaves the box answering."""
    from ..console import Console, ConsoleError, problem

    if not config["console"]["listen"]:
        return None
    if problem(config):
        raise ConsoleError(problem(config))
    console = Console(config, shared, lines)
    try:
        await console.start()
    except ConsoleError as e:
        logging.getLogger("ivrbox").error("%s; the box answers calls without it", e)
        await console.stop()
        return None
    return console


def open_url(url: str, tts):
    """The line for ``url``; a simulated one gets the box's tones, decoder and voice for its caller."""
    from drivers import open_line, parse_url

    from .simulate import caller_voice

    return open_line(url, **(caller_voice(tts) if parse_url(url)[0] == "sim" else {}))


def _reporter(config: dict, shared: dict, lines: int):
    """MQTT's view of the box (a reporter that does nothing when [mqtt] url is unset)."""
    from .. import mqtt

    def outbox_depth() -> int:
        fetcher = shared["fetcher"]
        return len(fetcher.unsaved) + (fetcher.outbox.count() if fetcher.outbox is not None else 0)

    async def flush_outbox() -> str:
        sent = await shared["fetcher"].flush()
        return f"delivered {sent}, {outbox_depth()} pending"

    async def reload_config() -> str:
        return await reload(config, shared)

    return mqtt.build(config, lines=lines, outbox=outbox_depth,
                      server_up=lambda: not shared["fetcher"].breaker.is_open(config["server"]["url"]),
                      commands={"flush_outbox": flush_outbox, "reload_config": reload_config})


RESTART_SECTIONS = ("line", "mqtt", "speech.models")  # lines, the broker and models are opened once
FETCHER_SECTIONS = ("server", "cache", "outbox", "offline")


async def reload(config: dict, shared: dict) -> str:
    """Read the config file again and apply it to the next calls; a broken file
    changes nothing (ConfigError). [line], [mqtt] and [speech.models] need a restart."""
    from ..config import load
    from ..web import build_fetcher

    fresh = load(config["_path"])
    later = [s for s in RESTART_SECTIONS if fresh.get(s) != config.get(s)]
    rebuild = any(fresh.get(s) != config.get(s) for s in FETCHER_SECTIONS)
    for section in list(config):
        if section not in fresh and section not in RESTART_SECTIONS and not section.startswith("_"):
            del config[section]
    config.update({k: v for k, v in fresh.items() if k not in RESTART_SECTIONS})
    if rebuild:
        old, shared["fetcher"] = shared["fetcher"], build_fetcher(config)
        shared["recordings"].fetcher = shared["fetcher"]
        await old.close()
    note = f"; [{'], ['.join(later)}] take effect after a restart" if later else ""
    return f"reloaded {config['_path']}{note}"


STUCK_SECONDS = 2.0  # least time a call may stand still before the watchdog gives up on its line


def _call_progress(call):
    """How far ``call`` has got, for the watchdog: its frame count while the pump
    runs, one fixed value once it has ended (its line must then be let go)."""
    def probe():
        if call.ended:
            return "ended"
        return call.pump.clock.frames if call.pump.running else None
    return probe


class Counter:
    def __init__(self, limit: int):
        self.limit, self.taken = limit, 0

    @property
    def done(self) -> bool:
        return bool(self.limit) and self.taken >= self.limit


async def _serve_line(line, config: dict, shared: dict, counter: Counter, sinks, reporter, n: int,
                      progress=None) -> None:
    """One line's loop: wait for a call, run it, again. A failing device is
    reopened with growing pauses, so an unplugged modem does not stop the box.
    ``progress`` hears what the line does: the watchdog stops when a call's
    frames stop, or when its line does not come back from a call that ended."""
    import asyncio

    from drivers import HungUp, LineError

    from ..events import logger
    from ..notify import Progress, notify

    progress = progress or Progress(STUCK_SECONDS)
    log = logging.getLogger("ivrbox")
    name = type(line).__name__
    backoff = 1.0
    while not counter.done:
        try:
            async with line:
                log.info("%s ready, start document %s", name, config["server"]["url"])
                backoff = 1.0
                while not counter.done:
                    reporter.line_state(n, "idle")
                    progress.waiting(n)
                    try:
                        info = await line.wait_for_call()
                    except HungUp:
                        return
                    from ..call import Call  # the call's machinery (numpy, the detectors) loads with the first call

                    call = Call(line, config, sinks=[*sinks], **shared)
                    call.events.sinks.append(logger(call.sid))
                    log.info("%s call on %s from %s", call.sid[:10], name, info.caller or "unknown")
                    counter.taken += 1
                    notify(f"STATUS=in call {call.sid} ({counter.taken} taken)")
                    progress.working(n, _call_progress(call))
                    try:
                        with reporter.call(n, call.sid, info.caller, info.name) as watch:
                            call.events.sinks.append(watch)
                            await call.run(info)
                    except LineError:
                        raise
                    except Exception:  # a bug in one call must not take the other lines down
                        log.exception("%s failed; the line answers again", call.sid[:10])
                    notify(f"STATUS=waiting for calls ({counter.taken} taken)")
        except LineError as e:
            progress.waiting(n)
            log.error("%s failed: %s; reopening in %.0f s", name, e, backoff)
            reporter.line_state(n, "reopening", error=f"{name}: {e}")
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 30.0)
