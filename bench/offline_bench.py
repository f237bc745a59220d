"""Offline-first figures: time to the first prompt with the server down, outbox
delivery after it comes back, and no input lost across calls with the server flapping.

``python -m bench offline``. Calls run in-process through the real Call and
SimLine on a local server; times are wall-clock, since the simulator holds its
virtual clock while a fetch runs. Each figure comes with its peer from the same
run: the server up, or the connect timeout.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fault_server import FaultServer, Hung  # noqa: E402

from drivers.sim import SimLine  # noqa: E402
from firmware_app.call import Call  # noqa: E402
from firmware_app.config import defaults  # noqa: E402
from firmware_app.speak.tts import Synthesizer  # noqa: E402
from firmware_app.web import build_fetcher  # noqa: E402
from firmware_app.web.bundled import BundledFlows  # noqa: E402

START = '<Response><Gather numDigits="1" action="/ivr/act" timeout="2"><Say>Menu</Say></Gather></Response>'
DONE = "<Response><Say>Thanks</Say></Response>"
CALLS = 1000


def config_for(tmp: Path, url: str) -> dict:
    config = defaults()
    config["server"]["url"] = url
    config["cache"]["dir"] = str(tmp / "cache")
    config["outbox"]["path"] = str(tmp / "outbox.sqlite")
    return config


def fetcher(config: dict, flows: Path):
    web = build_fetcher(config)
    web.flows = BundledFlows(flows)
    return web


class Timed:
    """Wraps a fetcher and keeps how long each TwiML fetch kept the caller waiting."""

    def __init__(self, inner):
        self.inner, self.waits = inner, []

    async def fetch(self, req):
        started = time.monotonic()
        try:
            return await self.inner.fetch(req)
        finally:
            if req.kind == "twiml":
                self.waits.append(time.monotonic() - started)


async def one_call(web, config, tts, script="", max_seconds=8.0) -> tuple[float | None, list[dict]]:
    """Run a call; return the wall seconds to its first prompt and its events."""
    events, first = [], []
    started = time.monotonic()

    def sink(e):
        events.append(e)
        if e["event"] == "say" and not first:
            first.append(time.monotonic() - started)

    line = SimLine(script=script, max_seconds=max_seconds, tts=tts)
    call = Call(line, config, fetcher=web, tts=tts, sinks=[sink])
    await call.run(await line.wait_for_call())
    return (first[0] if first else None), events


def make_flows(tmp: Path) -> Path:
    root = tmp / "flows"
    (root / "ivr").mkdir(parents=True)
    (root / "ivr" / "start.xml").write_text(START.replace("Menu", "Offline menu"))
    (root / "ivr" / "act.xml").write_text(DONE)
    return root


async def first_prompt(tmp: Path, tts) -> list[tuple[str, float]]:
    flows = make_flows(tmp)
    rows = []
    with FaultServer({"/ivr/start": START, "/ivr/act": DONE}) as server:
        config = config_for(tmp / "up", server.url("/ivr/start"))
        web = fetcher(config, flows)
        await one_call(web, config, tts)  # warm the TTS cache: every row below says "Menu"/"Offline menu"
        ups = [(await one_call(web, config, tts))[0] for _ in range(5)]
        rows.append(("server up (peer)", statistics.median(ups)))
        await web.close()
        server.stop()
        colds, opens = [], []
        for i in range(5):
            web = fetcher(config_for(tmp / f"down{i}", server.url("/ivr/start")), flows)
            colds.append((await one_call(web, config, tts))[0])
            opens.append((await one_call(web, config, tts))[0])
            await web.close()
        rows.append(("down (refused), cold", statistics.median(colds)))
        rows.append(("down, breaker open", statistics.median(opens)))
    with Hung() as hung:
        config = config_for(tmp / "hung", hung.url("/ivr/start"))
        web = fetcher(config, flows)
        rows.append(("hung server, cold", (await one_call(web, config, tts))[0]))
        rows.append(("hung server, breaker open", (await one_call(web, config, tts))[0]))
        await web.close()
    return rows


async def delivery(tmp: Path, tts, n: int = 200) -> list[tuple[str, float]]:
    flows = make_flows(tmp)
    with FaultServer({"/ivr/start": START, "/ivr/act": DONE}) as server:
        config = config_for(tmp / "delivery", server.url("/ivr/start"))
        web = fetcher(config, flows)
        started = time.monotonic()
        for i in range(20):
            await one_call(web, config, tts, f"wait:listen key:{i % 10}")
        live = (time.monotonic() - started) / 20
        server.stop()
        for i in range(n):
            await one_call(web, config, tts, f"wait:listen key:{i % 10}")
        queued = web.outbox.count()
        server.start()
        back = time.monotonic()
        first = None
        while web.outbox.count():
            if first is None and web.outbox.count() < queued:
                first = time.monotonic() - back
            await asyncio.sleep(0.005)
        done = time.monotonic() - back
        await web.close()
    return [(f"{queued} queued actions: first delivered after the server is back", first or done),
            (f"{queued} queued actions: all delivered", done),
            ("probe interval (peer)", config["offline"]["probe_interval"]),
            ("one whole call with the server up (peer)", live)]


async def flapping(tmp: Path, tts) -> list[tuple[str, object]]:
    flows = make_flows(tmp)
    got: dict[str, list[tuple[str, str]]] = {}
    lock = threading.Lock()

    def act(rec):
        if "Digits" not in rec.params:
            return DONE  # the breaker's probe
        with lock:
            got.setdefault(rec.headers.get("I-Twilio-Idempotency-Token", ""), []).append(
                (rec.params["CallSid"], rec.params["Digits"]))
        return DONE

    rng = random.Random(6)
    with FaultServer({"/ivr/start": START, "/ivr/act": act}) as server:
        config = config_for(tmp / "flap", server.url("/ivr/start"))
        config["offline"]["probe_interval"] = 0.05
        inner = fetcher(config, flows)
        web = Timed(inner)
        stop = threading.Event()
        flips = [0]

        def flap():
            while not stop.wait(rng.uniform(0.02, 0.2)):
                server.stop() if server.running else server.start()
                flips[0] += 1
            if not server.running:
                server.start()

        flapper = threading.Thread(target=flap)
        flapper.start()
        expected, offline_calls = set(), 0
        started = time.monotonic()
        for i in range(CALLS):
            digit = str(i % 10)
            _, events = await one_call(web, config, tts, f"wait:listen key:{digit}")
            sid = next(e for e in events if e["event"] == "request")["params"]["CallSid"]
            expected.add((sid, digit))
            offline_calls += any(e["event"] == "offline" for e in events)
        calls_took = time.monotonic() - started
        stop.set()
        flapper.join()
        settle = time.monotonic()
        while inner.outbox.count() or inner.unsaved:
            await inner.flush()
            await asyncio.sleep(0.01)
        drained = time.monotonic() - settle
        await inner.close()
    seen = {pair for pairs in got.values() for pair in pairs}
    duplicates = sum(len(p) - 1 for p in got.values())
    waits = sorted(web.waits)
    return [("calls", CALLS), ("server flips", flips[0]), ("calls that went offline at least once", offline_calls),
            ("wall seconds for the calls", round(calls_took, 2)),
            ("TwiML wait p50 / p99 / max (ms)", " / ".join(f"{1000 * waits[int(q * (len(waits) - 1))]:.1f}"
                                                          for q in (0.5, 0.99, 1.0))),
            ("connect timeout (peer, ms)", 1000 * config["server"]["connect_timeout"]),
            ("seconds to drain the outbox after the last flip", round(drained, 3)),
            ("actions expected", len(expected)), ("actions received", len(seen & expected)),
            ("actions lost", len(expected - seen)), ("replays of a request id already received", duplicates)]


def main() -> None:
    tts = Synthesizer()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        print("time to first prompt (wall seconds, median of 5 where cold/open)")
        for name, value in asyncio.run(first_prompt(tmp / "fp", tts)):
            print(f"  {name:45} {value:8.3f}")
        print("outbox delivery after the server comes back (wall seconds)")
        for name, value in asyncio.run(delivery(tmp / "dl", tts)):
            print(f"  {name:60} {value:8.3f}")
        print(f"{CALLS} simulated calls, server flapping")
        for name, value in asyncio.run(flapping(tmp / "fl", tts)):
            print(f"  {name:50} {value}")
