"""Twilio's call status callbacks: ``[server] status_callback``.

At each call-progress event listed in ``status_callback_events`` (Twilio's
statusCallbackEvent: initiated, ringing, answered, completed; default
completed) the box requests the URL with the call's standard parameters and
``CallStatus`` (ringing, in-progress, then completed, busy, no-answer,
canceled or failed), ``CallDuration`` (on completed, whole call seconds),
``Timestamp`` (RFC 2822, as Twilio), ``SequenceNumber`` (from 0) and
``CallbackSource=call-progress-events``.

They go out one at a time, in order, never holding up the call, as
``Request.kind == "status"``: the web layer delivers them durably (the
outbox keeps them while their server is down; see web/durable.py).

    >>> timestamp(0)
    'Thu, 01 Jan 1970 00:00:00 +0000'
"""

from __future__ import annotations

import asyncio
import time
from email.utils import formatdate

from .web.client import FetchError, Request

EVENTS = ("initiated", "ringing", "answered", "completed")
STATUS = {"initiated": "ringing", "ringing": "ringing", "answered": "in-progress"}


def timestamp(when: float) -> str:
    return formatdate(when, usegmt=False).replace("-0000", "+0000")


def events_problem(value: str) -> str | None:
    """The config check for ``status_callback_events``."""
    unknown = [e for e in value.split() if e not in EVENTS]
    return f"has {', '.join(unknown)}: events are {', '.join(EVENTS)}" if unknown else None


class StatusCallbacks:
    def __init__(self, call) -> None:
        server = call.config["server"]
        self.call, self.url, self.method = call, server.get("status_callback", ""), server.get(
            "status_callback_method", "POST")
        self.wanted = set(server.get("status_callback_events", "completed").split())
        self.sequence = 0
        self.queue: asyncio.Queue[Request | None] = asyncio.Queue()
        self.worker: asyncio.Task | None = None

    def event(self, name: str, status: str = "") -> None:
        """Note a call-progress event; sent in the background when it is wanted."""
        if not self.url or name not in self.wanted:
            return
        extra = {"CallStatus": status or STATUS[name], "Timestamp": timestamp(time.time()),
                 "SequenceNumber": str(self.sequence), "CallbackSource": "call-progress-events"}
        if name == "completed":
            extra["CallDuration"] = str(int(self.call.now))
        self.sequence += 1
        self.queue.put_nowait(Request(self.method, self.url, self.call.params(extra), kind="status",
                                      input={"CallStatus": extra["CallStatus"]}))
        if self.worker is None:
            self.worker = asyncio.create_task(self._send_all())

    async def _send_all(self) -> None:
        while (request := await self.queue.get()) is not None:
            self.call.emit("request", method=request.method, url=request.url, params=request.params)
            try:
                response = await self.call.fetcher.fetch(request)
                self.call._notes(response)
            except FetchError as e:
                self.call.emit("warning", message=f"status callback failed: {e.message}")

    async def finish(self, seconds: float) -> None:
        """Let the callbacks already noted go out (or into the outbox), for at most ``seconds``."""
        if self.worker is None:
            return
        self.queue.put_nowait(None)
        try:
            await asyncio.wait_for(self.worker, seconds)
        except (TimeoutError, asyncio.CancelledError):
            self.call.emit("warning", message=f"status callbacks still unsent after {seconds:g} s; dropped")
