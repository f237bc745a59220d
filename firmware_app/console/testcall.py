"""Test calls from the browser: one simulated call against the configured server, watched live.

It is ``ivrbox simulate`` inside the daemon: a scripted caller on a
simulated line, the box's own call code, and fresh private state (its own
cache and outbox in a temporary folder), so a test never touches what real
callers left. Its events go to the test's page as they happen.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import secrets
import tempfile
import time
from pathlib import Path

log = logging.getLogger("ivrbox.console")

KEPT = 20                   # finished test calls listed
MAX_SECONDS = 300.0         # call seconds before the simulated caller hangs up
MAX_EVENTS = 2000


class TestCallError(Exception):
    pass


def start(box, script: str, caller: str = "", url: str = "") -> dict:
    """Start a test call in the background; its dict fills in as it runs. TestCallError for a bad script."""
    from drivers.sim import ScriptError, SimLine, parse_script

    from ..commands.simulate import caller_voice

    try:
        parse_script(script)
    except ScriptError as e:
        raise TestCallError(str(e)) from None
    config = copy.deepcopy(box.config)
    if url:
        config["server"]["url"] = url
    tts = box.shared["tts"]
    if any(kind == "wav" for kind, _, _ in parse_script(script)):
        raise TestCallError("wav: steps read files on the box, so a test call from the browser cannot use them")
    try:
        line = SimLine(script=script, max_seconds=MAX_SECONDS, caller=caller or config["call"]["from"],
                       called=config["call"]["to"], **caller_voice(tts))
    except ScriptError as e:
        raise TestCallError(str(e)) from None
    test = {"id": secrets.token_hex(8), "script": script, "caller": line.info.caller, "url": config["server"]["url"], "started_at": time.time(), "events": [],
            "done": False, "error": ""}
    while len(box.tests) >= KEPT:
        box.tests.pop(next(iter(box.tests)))
    box.tests[test["id"]] = test
    test["task"] = asyncio.get_running_loop().create_task(_run(box, test, line, config))
    return test


async def _run(box, test: dict, line, config: dict) -> None:
    from ..call import Call
    from ..web import build_fetcher

    topic = f"test/{test['id']}"

    def sink(record: dict) -> None:
        if record["event"].startswith("_") or len(test["events"]) >= MAX_EVENTS:
            return
        test["events"].append(record)
        box.live.publish("event", topic=topic, record=record)

    with tempfile.TemporaryDirectory(prefix="ivrbox-test-call-") as tmp:
        config["cache"]["dir"] = str(Path(tmp) / "cache")
        config["outbox"]["path"] = str(Path(tmp) / "outbox.sqlite")
        fetcher = build_fetcher(config)
        try:
            shared = {**{k: v for k, v in box.shared.items() if k in ("tts", "speech_models")}, "fetcher": fetcher}
            call = Call(line, config, sinks=[sink], **shared)
            await call.run(await line.wait_for_call())
        except Exception as e:      # noqa: BLE001 - a test call's failure is shown on its page, not raised
            log.exception("console: test call %s failed", test["id"])
            test["error"] = f"{type(e).__name__}: {e}"
        finally:
            await fetcher.close()
            test["done"] = True
            box.live.publish("ended", topic=topic, error=test["error"])


def view(test: dict) -> dict:
    return {k: v for k, v in test.items() if k != "task"}
