"""Requests that are not TwiML but must arrive: call status callbacks (``Request.kind == "status"``).

Nobody waits on their answer. Each goes straight to its server unless that
server has a backlog in the outbox (order is kept per origin); when the
server does not get it (no answer, a gateway's 502/503/504, the circuit
breaker open) it goes to the outbox and is delivered with the rest when the
server is back. A server that answered, even with an error, got it: as on
Twilio, it is not resent.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import TYPE_CHECKING

from .client import FetchError, Request, Response, redact
from .outbox import TOKEN_HEADER

if TYPE_CHECKING:
    from .offline import OfflineFetcher


async def deliver_durably(fetcher: OfflineFetcher, req: Request) -> tuple[Response, list[dict]]:
    """The server's answer (status 0 when it was queued) and notes of what happened."""
    req = replace(req, kind="callback", headers={TOKEN_HEADER: uuid.uuid4().hex, **req.headers})
    notes: list[dict] = []
    if not fetcher._backlog(req.url):
        try:
            return await fetcher._send(req), notes
        except FetchError as e:
            if not (e.undelivered or fetcher.breaker.is_open(req.url)):
                raise
            notes.append({"event": "error", "code": e.code, "message": e.message, "url": redact(req.url)})
    await fetcher._queue(req, notes)
    return Response(req.url, 0, b""), notes
