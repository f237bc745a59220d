"""Web-stack figures: live calls served while a dead origin holds 1,000 queued items, and
how long a trickling server can hold a call (header trickle, slow body) against the deadline.

``python -m bench web``. Calls run in-process through the real Call and SimLine on local
servers; times are wall-clock. Peers from the same run: the same calls with an empty
outbox, and the configured timeouts.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fault_server import FaultServer, HeaderTrickle, SlowBody  # noqa: E402

from bench.offline_bench import DONE, START, config_for, fetcher, make_flows, one_call  # noqa: E402
from firmware_app.speak.tts import Synthesizer  # noqa: E402
from firmware_app.web.client import Request  # noqa: E402
from firmware_app.web.outbox import Outbox  # noqa: E402

HELD = 1000
LIVE_CALLS = 100


async def live_calls(web, config, tts, server) -> tuple[int, float]:
    """Run LIVE_CALLS calls that each press a key; return (actions the server got live, median call seconds)."""
    before = sum(1 for r in server.requests if "Digits" in r.params)
    took = []
    for i in range(LIVE_CALLS):
        started = time.monotonic()
        _, events = await one_call(web, config, tts, f"wait:listen key:{i % 10}")
        took.append(time.monotonic() - started)
        assert not any(e["event"] in ("queued", "offline") for e in events), events
    return sum(1 for r in server.requests if "Digits" in r.params) - before, statistics.median(took)


async def dead_origin_backlog(tmp: Path, tts) -> list[tuple[str, object]]:
    flows = make_flows(tmp)
    with FaultServer({"/ivr/act": DONE}) as dead, FaultServer({"/ivr/start": START, "/ivr/act": DONE}) as live:
        dead.stop()
        config = config_for(tmp / "held", live.url("/ivr/start"))
        box = Outbox(config["outbox"]["path"])
        for i in range(HELD):
            box.put(Request("POST", dead.url("/ivr/act"), {"Digits": str(i % 10), "CallSid": f"CA{i:032x}"},
                            input={"Digits": str(i % 10)}))
        box.close()
        web = fetcher(config, flows)
        await one_call(web, config, tts)  # warm the TTS cache
        served, median = await live_calls(web, config, tts, live)
        held = web.outbox.count(dead.url("/"))
        await web.close()
        peer_config = config_for(tmp / "empty", live.url("/ivr/start"))
        peer = fetcher(peer_config, flows)
        _, peer_median = await live_calls(peer, peer_config, tts, live)
        await peer.close()
    return [("items held for the dead origin", held),
            ("live calls with an action", LIVE_CALLS), ("live actions served (must be all)", served),
            ("median wall seconds per call, dead backlog", round(median, 3)),
            ("median wall seconds per call, empty outbox (peer)", round(peer_median, 3))]


async def trickle(tmp: Path, tts) -> list[tuple[str, object]]:
    rows = []
    flows = make_flows(tmp)
    for name, kind in (("header trickle", HeaderTrickle), ("slow body", SlowBody)):
        with kind() as slow, FaultServer({}) as server:
            server.routes["/ivr/start"] = (f"<Response><Play>{slow.url('/a.wav')}</Play>"
                                           "<Say>After</Say></Response>")
            config = config_for(tmp / name.replace(" ", "-"), server.url("/ivr/start"))
            config["server"]["timeout"] = 3.0
            web = fetcher(config, flows)
            started = time.monotonic()
            _, events = await one_call(web, config, tts)
            rows.append((f"<Play> from a {name} server: call wall seconds", round(time.monotonic() - started, 3)))
            assert any(e["event"] == "say" and e["text"] == "After" for e in events)
            await web.close()
        with kind() as slow:
            config = config_for(tmp / (name.replace(" ", "-") + "-twiml"), slow.url("/ivr/start"))
            web = fetcher(config, flows)
            started = time.monotonic()
            first, _ = await one_call(web, config, tts)
            rows.append((f"TwiML from a {name} server: wall seconds to the first prompt", round(first, 3)))
            await web.close()
    rows += [("timeout, whole fetch (peer)", 3.0), ("connect timeout, TwiML (peer)", 2.0)]
    return rows


def main() -> None:
    tts = Synthesizer()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        print(f"live calls while a dead origin holds {HELD} queued items")
        for name, value in asyncio.run(dead_origin_backlog(tmp / "held", tts)):
            print(f"  {name:55} {value}")
        print("trickling servers cut at the deadline")
        for name, value in asyncio.run(trickle(tmp / "trickle", tts)):
            print(f"  {name:60} {value}")
