"""What the box tells the broker: line states, call events and the box's counters.

The daemon calls ``line_state()`` as each line opens, fails and waits, and
wraps each call in ``call()``, whose sink sees the call's events. Counters
the box keeps elsewhere (new voicemails, the outbox, the server's state)
come from small callables polled once a second.

    >>> from firmware_app.mqtt.settings import Broker, Topics
    >>> reporter = Reporter(Publisher(Broker("h", 1883, False), Topics("ivrbox", "b")), lines=1)
    >>> reporter.line_state(1, "idle")
    >>> reporter.publisher.states["ivrbox/b/line/1/state"]
    'idle'
"""

from __future__ import annotations

import asyncio
import datetime
import json
import logging
from typing import Callable

from ..events import ANSWERED, outcome
from .discovery import messages
from .publisher import Publisher

log = logging.getLogger("ivrbox.mqtt")

POLL_SECONDS = 1.0
STATE_LIMIT = 255           # Home Assistant rejects longer sensor states


class Reporter:
    def __init__(self, publisher: Publisher, lines: int, *, voicemail: Callable[[], int] = lambda: 0,
                 outbox: Callable[[], int] = lambda: 0, server_up: Callable[[], bool] = lambda: True,
                 discovery_prefix: str = "", box: str = "", version: str = "",
                 today: Callable[[], datetime.date] = datetime.date.today):
        self.publisher = publisher
        self.topics = publisher.topics
        self.providers = {self.topics.voicemail: voicemail, self.topics.outbox: outbox,
                          self.topics.server: lambda: "up" if server_up() else "down"}
        self.today = today
        self.day = today()
        self.calls_today = 0
        self._failing: set[str] = set()
        self._runner: asyncio.Task | None = None
        self._poller: asyncio.Task | None = None
        if discovery_prefix:
            for topic, payload in messages(self.topics, discovery_prefix, box, lines, version):
                publisher.state(topic, payload)
        for n in range(1, lines + 1):
            self.line_state(n, "idle")
            publisher.state(self.topics.line(n, "error"), "none")
        publisher.state(self.topics.last_caller, "none")
        publisher.state(self.topics.calls_today, "0")
        publisher.state(self.topics.dropped, "0")
        self.poll()

    def line_state(self, n: int, state: str, error: str | None = None) -> None:
        p, t = self.publisher, self.topics
        p.state(t.line(n, "state"), state)
        p.state(t.line(n, "ringing"), "ON" if state == "ringing" else "OFF")
        p.state(t.line(n, "off_hook"), "ON" if state == "in_call" else "OFF")
        if error:
            p.state(t.line(n, "error"), error[:STATE_LIMIT])

    def call(self, n: int, sid: str, caller: str = "", name: str = "") -> "CallWatch":
        if self.today() != self.day:
            self.day, self.calls_today = self.today(), 0
        self.calls_today += 1
        self.publisher.state(self.topics.calls_today, str(self.calls_today))
        self.publisher.state(self.topics.last_caller, (caller or "unknown")[:STATE_LIMIT])
        return CallWatch(self, n, sid, caller, name)

    def poll(self) -> None:
        for topic, provider in self.providers.items():
            try:
                value = str(provider())
            except Exception as e:  # a broken counter must not stop the others, nor the box
                if topic not in self._failing:
                    log.warning("MQTT: cannot read %s: %s", topic, e)
                    self._failing.add(topic)
                continue
            self._failing.discard(topic)
            self.publisher.state(topic, value)

    async def _poll_forever(self) -> None:
        while True:
            await asyncio.sleep(POLL_SECONDS)
            self.poll()

    def start(self) -> None:
        self._runner = asyncio.create_task(self.publisher.run())
        self._poller = asyncio.create_task(self._poll_forever())

    async def close(self, timeout: float = 2.0) -> None:
        if self._poller is not None:
            self._poller.cancel()
            await asyncio.gather(self._poller, return_exceptions=True)
        self.poll()
        await self.publisher.close(self._runner, timeout)


class CallWatch:
    """One call: ``started`` on entry, a sink for its events, ``ended`` on exit.

    Used as ``with reporter.call(n, sid, caller) as sink: call.events.sinks.append(sink)``.
    """

    def __init__(self, reporter: Reporter, n: int, sid: str, caller: str, name: str):
        self.reporter, self.n, self.sid, self.caller = reporter, n, sid, caller
        self.answered = False
        self.hangup: dict | None = None
        self.t = 0.0
        reporter.line_state(n, "ringing")
        self._publish("started", caller=caller, name=name,
                      time=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"))

    def _publish(self, what: str, **fields) -> None:
        payload = {"call": self.sid, "line": self.n, **fields}
        self.reporter.publisher.event(self.reporter.topics.call(self.n, what), json.dumps(payload, default=str))

    def __call__(self, record: dict) -> None:
        name = record["event"]
        self.t = record.get("t", self.t)
        if not self.answered and name in ANSWERED:
            self.answered = True
            self.reporter.line_state(self.n, "in_call")
        if name == "gather":
            self._publish("gather", **{k: record.get(k) for k in ("t", "input", "digits", "speech_result",
                                                                   "confidence")})
        elif name in ("record", "recording"):
            self._publish("recording", **{k: v for k, v in record.items() if k != "event"})
        elif name == "hangup":
            self.hangup = record

    def __enter__(self) -> "CallWatch":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        hangup = self.hangup or {}
        self._publish("ended", caller=self.caller, outcome=outcome(self.hangup, exc_type is not None),
                      duration=hangup.get("t", self.t), by=hangup.get("by", "box"), reason=hangup.get("reason", ""))
        self.reporter.line_state(self.n, "idle")


class Quiet:
    """The reporter when MQTT is off: the same calls, doing nothing."""

    def line_state(self, n: int, state: str, error: str | None = None) -> None:
        pass

    def call(self, n: int, sid: str, caller: str = "", name: str = ""):
        return _QuietWatch()

    def start(self) -> None:
        pass

    async def close(self, timeout: float = 2.0) -> None:
        pass


class _QuietWatch:
    def __call__(self, record: dict) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        pass


__all__ = ["CallWatch", "Quiet", "Reporter"]
