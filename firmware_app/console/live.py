"""What the box is doing now, for the dashboard: line states, calls in progress, and a feed of changes.

``Live`` takes the same calls from the daemon as the MQTT reporter
(``line_state()``, and ``call()`` around each call, whose sink sees the
call's events); ``Tee`` hands them to both. Each change is also put on the
feed, which Server-Sent Events carry to the browsers watching.

    >>> live = Live([("sim:", "SimLine")])
    >>> feed = live.subscribe()
    >>> live.line_state(1, "ringing")
    >>> feed.get_nowait()["state"], live.lines[0]["state"]
    ('ringing', 'ringing')
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque

from ..events import ANSWERED, outcome

log = logging.getLogger("ivrbox.console")

FEED_SIZE = 500            # changes waiting per browser; a browser that falls further behind misses some
EVENTS_SHOWN = 200         # the latest events of a call in progress kept for the dashboard
EVENTS_KEPT = 5000         # events of one call written to the history; the rest are counted


class Live:
    def __init__(self, lines: list[tuple[str, str]], history=None):
        now = time.time()
        self.lines = [{"n": n, "url": url, "device": device, "state": "idle", "error": "", "since": now}
                      for n, (url, device) in enumerate(lines, 1)]
        self.calls: dict[str, dict] = {}
        self.history = history
        self._feeds: set[asyncio.Queue] = set()
        self.missed = 0

    def subscribe(self, topic: str = "") -> asyncio.Queue:
        feed: asyncio.Queue = asyncio.Queue(FEED_SIZE)
        feed.topic = topic          # "" is the dashboard's feed; "test/ID" a test call's
        self._feeds.add(feed)
        return feed

    @property
    def watchers(self) -> int:
        return len(self._feeds)

    def unsubscribe(self, feed: asyncio.Queue) -> None:
        self._feeds.discard(feed)

    def publish(self, kind: str, topic: str = "", **data) -> None:
        message = {"kind": kind, **data}
        for feed in self._feeds:
            if feed.topic != topic:
                continue
            if feed.full():
                self.missed += 1
                continue
            feed.put_nowait(message)

    def close_feeds(self) -> None:
        """End every browser's stream (at shutdown)."""
        for feed in self._feeds:
            while feed.full():
                feed.get_nowait()
            feed.put_nowait(None)

    def line_state(self, n: int, state: str, error: str | None = None) -> None:
        if not 1 <= n <= len(self.lines):
            return
        line = self.lines[n - 1]
        if line["state"] != state:
            line["state"], line["since"] = state, time.time()
        if error:
            line["error"] = error
        self.publish("line", n=n, state=state, error=line["error"])

    def call(self, n: int, sid: str, caller: str = "", name: str = "") -> "Watch":
        return Watch(self, n, sid, caller, name)

    def start(self) -> None:
        pass

    async def close(self, timeout: float = 2.0) -> None:
        self.close_feeds()


class Watch:
    """One call: in ``Live.calls`` while it runs, in the history once it started."""

    def __init__(self, live: Live, n: int, sid: str, caller: str, name: str):
        self.live, self.n, self.sid = live, n, sid
        self.answered = False
        self.hangup: dict | None = None
        self.t = 0.0
        self.events: list[dict] = []
        self.dropped = 0
        self.shown: deque[dict] = deque(maxlen=EVENTS_SHOWN)
        self.call = {"sid": sid, "line": n, "caller": caller or "unknown", "name": name,
                     "started_at": time.time(), "events": self.shown}

    def __enter__(self) -> "Watch":
        self.live.calls[self.sid] = self.call
        self.live.line_state(self.n, "ringing")
        self.live.publish("call", **{k: v for k, v in self.call.items() if k != "events"})
        self._write("started", line=self.n, caller=self.call["caller"], name=self.call["name"],
                    at=self.call["started_at"])
        return self

    def __call__(self, record: dict) -> None:
        name = record["event"]
        self.t = record.get("t", self.t)
        if not self.answered and name in ANSWERED:
            self.answered = True
            self.live.line_state(self.n, "in_call")
        if name == "hangup":
            self.hangup = record
        if name.startswith("_"):
            return
        if len(self.events) < EVENTS_KEPT:
            self.events.append(record)
        else:
            self.dropped += 1
        self.shown.append(record)
        self.live.publish("event", sid=self.sid, line=self.n, record=record)

    def __exit__(self, exc_type, exc, tb) -> None:
        self.live.calls.pop(self.sid, None)
        hangup = self.hangup or {}
        ended = {"outcome": outcome(self.hangup, exc_type is not None), "duration": hangup.get("t", self.t),
                 "by": hangup.get("by", "box"), "reason": hangup.get("reason", "")}
        if self.dropped:
            self.events.append({"t": self.t, "event": "warning",
                                "message": f"{self.dropped} more events were not kept in the history"})
        self._write("ended", **ended, events=self.events)
        self.live.publish("ended", sid=self.sid, line=self.n, **ended)
        self.live.line_state(self.n, "idle")

    def _write(self, what: str, **fields) -> None:
        if self.live.history is None:
            return
        try:
            getattr(self.live.history, what)(self.sid, **fields)
        except Exception as e:      # noqa: BLE001 - a full disk must not end the call; the log says why
            log.warning("console: could not write call %s to the history: %s", self.sid[:10], e)


class Tee:
    """Two reporters as one: the daemon's MQTT reporter (or its quiet stand-in) and the console's Live."""

    def __init__(self, first, second):
        self.parts = (first, second)

    def line_state(self, n: int, state: str, error: str | None = None) -> None:
        for part in self.parts:
            part.line_state(n, state, error)

    def call(self, n: int, sid: str, caller: str = "", name: str = "") -> "_Both":
        return _Both([part.call(n, sid, caller, name) for part in self.parts])

    def start(self) -> None:
        for part in self.parts:
            part.start()

    async def close(self, timeout: float = 2.0) -> None:
        for part in self.parts:
            await part.close(timeout)


class _Both:
    def __init__(self, watches: list):
        self.watches = watches

    def __enter__(self) -> "_Both":
        for watch in self.watches:
            watch.__enter__()
        return self

    def __call__(self, record: dict) -> None:
        for watch in self.watches:
            watch(record)

    def __exit__(self, *exc) -> None:
        for watch in self.watches:
            watch.__exit__(*exc)
