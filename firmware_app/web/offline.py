"""The offline-first fetcher: the caller always gets a document, and no input is lost.

It wraps the HTTP client with the cache, the circuit breaker and the outbox.
A TwiML fetch that fails (the server unreachable, an HTTP error, a body that
is not TwiML) is answered, in order, by:

1. ``fallback_url``, posted ErrorCode and ErrorUrl as Twilio does;
2. the cached answer to the same request (method, URL, Digits/SpeechResult);
3. the bundled flow at the same path: http://host/ivr/menu with Digits=2 is
   flows/ivr/menu/2.xml, else flows/ivr/menu.xml, else flows/ivr/menu/index.xml;
4. the configured offline flow (``[offline] flow``), only when the server
   could not be reached: it tells callers the service is down;
5. an apology and a hang-up.

An action request (one carrying Digits or SpeechResult) that the server did
not get goes to the outbox first, and is replayed when the server is back.
Network attempts for one document share one budget, the connect timeout,
so the caller never waits longer than that in silence.

    >>> web = OfflineFetcher(HttpClient(), cache=Cache(d), outbox=Outbox(p))   # doctest: +SKIP
    >>> resp = await web.fetch(Request("POST", "http://127.0.0.1:9/ivr/menu", {"Digits": "2"}))  # doctest: +SKIP
    >>> [n["event"] for n in resp.notes]                                         # doctest: +SKIP
    ['error', 'queued', 'offline']

What happened on the way is in the response's ``notes``: event dicts the call
emits (error, warning, queued, offline), since the caller's path changed.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field, replace
from urllib.parse import urlsplit

from ..twiml.parse import TwimlError, parse
from .breaker import Breaker
from .bundled import BundledFlows
from .cache import Cache, CacheError, request_input
from .client import FetchError, Request, Response
from .outbox import REPLAY_HEADER, TOKEN_HEADER, Outbox, OutboxError, iso

APOLOGY = (b"<Response><Say>We are sorry, an application error has occurred. Goodbye.</Say>"
           b"<Hangup/></Response>")
AUDIO_TYPES_REFUSED = ("text/html", "text/xml", "application/xml", "text/plain", "application/json")


@dataclass
class Served(Response):
    notes: list[dict] = field(default_factory=list)


def unanswered(e: Exception) -> bool:
    """No HTTP answer came back: the origin is down, or the connection broke mid-exchange
    (the server may or may not have the request; a replay carries the same request id)."""
    return isinstance(e, FetchError) and (e.unreachable or e.code in (11206, 11220))


def error_note(e: Exception, url: str) -> dict:
    return {"event": "error", "code": getattr(e, "code", 0), "message": getattr(e, "message", str(e)), "url": url}


class OfflineFetcher:
    def __init__(self, web, *, quick=None, cache: Cache | None = None, outbox: Outbox | None = None,
                 flows: BundledFlows | None = None, fallback_url: str = "", offline_flow: str = "",
                 connect_timeout: float = 2.0, probe_interval: float = 1.0, problems: list[str] = ()):
        self.web = web                        # audio, callbacks and outbox deliveries
        self.quick = quick or web             # TwiML and probes: the caller is waiting
        self.cache = cache
        self.outbox = outbox
        self.flows = flows or BundledFlows()
        self.fallback_url = fallback_url
        self.offline_flow = offline_flow
        self.connect_timeout = connect_timeout
        self.breaker = Breaker(self._probe, probe_interval, on_close=lambda _: self._flush_soon())
        self.unsaved: list[Request] = []      # action requests the outbox could not store, ready to send
        self.problems = [{"event": "error", "code": 0, "message": p} for p in problems]
        self._flush_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task] = set()

    async def fetch(self, req: Request) -> Response:
        if req.kind == "twiml":
            return await self._twiml(req)
        if req.kind == "audio":
            return await self._audio(req)
        return await self._send(req)

    async def close(self) -> None:
        await self.breaker.stop()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # TwiML: the caller is waiting

    async def _twiml(self, req: Request) -> Served:
        notes, self.problems = self.problems, []
        deadline = time.monotonic() + self.connect_timeout
        started = time.monotonic()
        action = bool(request_input(req.params))
        if TOKEN_HEADER not in req.headers and not req.url.startswith("flows:"):
            req = replace(req, headers={**req.headers, TOKEN_HEADER: uuid.uuid4().hex})
        waiting = self._backlog() if action else 0
        if waiting and not self.breaker.is_open(req.url):
            # The server gets the earlier input first; this caller waits for that only so long.
            await asyncio.wait([self._flush_now()], timeout=self.connect_timeout / 2)
            waiting = self._backlog()
        try:
            if waiting:
                raise FetchError(11205, f"{waiting} earlier request(s) not delivered yet; "
                                 "this one waits its turn in the outbox", req.url)
            resp = await self._from_origin(req, self.quick, check_twiml, notes, deadline)
            return Served(resp.url, resp.status, resp.body, resp.headers, notes)
        except (FetchError, TwimlError) as e:
            failed = e
        notes.append(error_note(failed, req.url))
        if action and unanswered(failed):
            await self._queue(req, notes)
        for source, attempt in self._fallbacks(req, failed, notes, deadline):
            try:
                resp = await attempt
            except (FetchError, TwimlError, CacheError) as e:
                notes.append(error_note(e, getattr(e, "url", req.url)))
                continue
            if resp is not None:
                break
        else:
            source, resp = "apology", Response(req.url, 200, APOLOGY, {"content-type": "text/xml"})
        notes.append({"event": "offline", "source": source, "url": resp.url, "for": req.url,
                      "wait": round(time.monotonic() - started, 3)})
        return Served(resp.url, 200, resp.body, resp.headers, notes)

    def _fallbacks(self, req: Request, failed: Exception, notes: list[dict], deadline: float):
        if self.fallback_url and req.url != self.fallback_url:
            params = {**req.params, "ErrorCode": str(failed.code), "ErrorUrl": req.url}
            # The designated fallback is always tried, breaker or not: the shared deadline bounds it.
            yield "fallback", self._from_origin(Request("POST", self.fallback_url, params), self.quick,
                                                check_twiml, notes, deadline, guarded=False)
        yield "cache", self._cached(req)
        if not req.url.startswith("flows:"):
            yield "bundled", self._bundled(req)
        # The offline flow tells callers the service is down and their input is kept:
        # true only when the server could not be reached, not when it answered wrongly.
        if self.offline_flow and req.url != self.offline_flow and unanswered(failed):
            yield "offline_flow", self._from_origin(Request("POST", self.offline_flow, req.params), self.quick,
                                                    check_twiml, notes, deadline)

    async def _cached(self, req: Request) -> Response | None:
        entry = self.cache.lookup(req) if self.cache else None
        if entry is None:
            return None
        resp = entry.response()
        check_twiml(resp)
        return resp

    async def _bundled(self, req: Request) -> Response | None:
        found = self.flows.find(urlsplit(req.url).path or "/index", req.params)
        if found is None:
            return None
        resp = Response(req.url, 200, found.read_bytes(), {"content-type": "text/xml"})
        check_twiml(resp)
        return resp

    # Audio: a stale copy beats silence

    async def _audio(self, req: Request) -> Response:
        notes, self.problems = self.problems, []
        try:
            resp = await self._from_origin(req, self.web, check_audio, notes, None)
            return Served(resp.url, resp.status, resp.body, resp.headers, notes)
        except FetchError as e:
            failed = e
        try:
            entry = self.cache.lookup(req) if self.cache else None
        except CacheError as e:
            notes.append({"event": "warning", "message": str(e)})
            entry = None
        if entry is None:
            raise failed
        notes += [error_note(failed, req.url), {"event": "offline", "source": "cache", "url": req.url, "for": req.url}]
        resp = entry.response()
        return Served(resp.url, 200, resp.body, resp.headers, notes)

    # The origin, through the cache and the breaker

    async def from_origin(self, req: Request) -> Response:
        """The origin's own answer through the cache, with no fallbacks (for warming the cache).
        Raises FetchError or TwimlError; cache problems are in the answer's notes."""
        notes: list[dict] = []
        check = check_twiml if req.kind == "twiml" else check_audio
        resp = await self._from_origin(req, self.web, check, notes, None)
        return Served(resp.url, resp.status, resp.body, resp.headers, notes)

    async def _from_origin(self, req: Request, client, check, notes: list[dict], deadline: float | None,
                           guarded: bool = True) -> Response:
        if req.url.startswith("flows:"):
            resp = await self.flows.fetch(req)
            check(resp)
            return resp
        entry = None
        if self.cache:
            try:
                entry = self.cache.lookup(req)
            except CacheError as e:
                notes.append({"event": "warning", "message": str(e)})
        if entry and entry.fresh and req.method == "GET" and not request_input(req.params):
            return entry.response()
        if guarded and self.breaker.is_open(req.url):
            raise FetchError(11205, self.breaker.why(req.url), req.url)
        if entry and req.method == "GET":
            req = replace(req, headers={**req.headers, **entry.validators()})
        try:
            resp = await self._timed(client, req, deadline)
        except FetchError as e:
            if unanswered(e):
                self.breaker.trip(req.url, e.message)
            raise
        if resp.status == 304:
            if entry is None:
                raise FetchError(11200, "HTTP 304 for a request the box has no copy of", req.url, 304)
            try:
                entry = self.cache.refresh(entry, resp)
            except CacheError as e:
                notes.append({"event": "warning", "message": str(e)})
            return entry.response()
        check(resp)
        if self.cache:
            try:
                await asyncio.to_thread(self.cache.store, req, resp)  # hashes and writes the body
            except CacheError as e:
                notes.append({"event": "warning", "message": str(e)})
        return resp

    async def _timed(self, client, req: Request, deadline: float | None) -> Response:
        if deadline is None:
            return await client.fetch(req)
        left = deadline - time.monotonic()
        if left <= 0.05:
            raise FetchError(11205, f"no time left within the {self.connect_timeout:g} s connect timeout", req.url)
        try:
            return await asyncio.wait_for(client.fetch(req), left)
        except asyncio.TimeoutError:
            raise FetchError(11205, f"no answer within the {self.connect_timeout:g} s connect timeout",
                             req.url) from None

    async def _send(self, req: Request) -> Response:
        """A callback or an outbox delivery: straight to the server, unless it is known down."""
        if self.breaker.is_open(req.url):
            raise FetchError(11205, self.breaker.why(req.url), req.url)
        try:
            return await self.web.fetch(req)
        except FetchError as e:
            # A slow partialResultCallback endpoint says nothing about the TwiML server.
            if unanswered(e) and req.kind != "callback":
                self.breaker.trip(req.url, e.message)
            raise

    async def _probe(self, url: str) -> bool:
        try:
            await self.quick.fetch(Request("GET", url, {}, kind="callback", headers={"X-Ivrbox-Probe": "1"}))
        except FetchError as e:
            return not unanswered(e)
        except Exception:  # the probe must keep watching whatever goes wrong
            return False
        return True

    # The outbox

    def _backlog(self) -> int:
        return len(self.unsaved) + (self.outbox.count() if self.outbox else 0)

    async def _queue(self, req: Request, notes: list[dict]) -> None:
        what = {k: v for k, v in (("digits", req.params.get("Digits")), ("speech", req.params.get("SpeechResult")))
                if v is not None}
        if self.outbox is not None:
            try:
                # put() returns once the row is on disk: an fsync, too slow for the audio loop on an SD card
                item = await asyncio.to_thread(self.outbox.put, req)
                notes.append({"event": "queued", "id": item.id, "url": req.url, **what})
                return
            except OutboxError as e:
                problem = str(e)
        else:
            problem = "no outbox (it could not be opened)"
        self.unsaved.append(replace(req, kind="callback", headers={**req.headers, REPLAY_HEADER: iso(time.time())}))
        notes.append({"event": "error", "code": 0, "url": req.url, **what,
                      "message": f"{problem}; the request is kept in memory only until the server is back"})

    def _flush_soon(self) -> None:
        if self.unsaved or self.outbox:
            self._flush_now()

    def _flush_now(self) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(self.flush())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def flush(self) -> int:
        """Deliver what the server missed, oldest first. Returns how many were delivered."""
        async with self._flush_lock:
            sent = 0
            while self.unsaved:
                try:
                    await self._send(self.unsaved[0])
                except FetchError as e:
                    if unanswered(e):
                        return sent
                self.unsaved.pop(0)
                sent += 1
            if self.outbox is not None:
                sent += (await self.outbox.deliver(self))[0]
            return sent


def check_twiml(resp: Response) -> None:
    """Raise TwimlError unless the body is a TwiML document (parse refuses bombs and entities)."""
    parse(resp.body, resp.url)


def check_audio(resp: Response) -> None:
    if resp.content_type in AUDIO_TYPES_REFUSED or resp.body.lstrip()[:1] == b"<":
        what = resp.content_type or "markup"
        raise FetchError(12300, f"the audio URL returned {what}: a page (HTML, XML or text), not audio",
                         resp.url, resp.status)
