"""The offline-first fetcher: the caller always gets a document, and no input is lost.

It wraps the HTTP client with the cache, the circuit breaker and the outbox.
What happens when a TwiML fetch fails depends on whether the server got it:

- **the origin is down** (no answer at all, or a gateway's 502/503/504): the
  request's input goes to the outbox, and the caller gets, in order,
  ``fallback_url``, the cached answer to the same request, the bundled flow
  at the same path (http://host/ivr/menu with Digits=2 is
  flows/ivr/menu/2.xml, else flows/ivr/menu.xml), the configured offline flow;
- **the server answered** (any other status, 500 included, or a body that is
  not TwiML): as Twilio, ``fallback_url``, then the apology. Nothing is queued.

Input waits only behind older input for the same origin (scheme, host,
port), and only while that origin is down. Network attempts for one
document share one budget, the connect timeout, so the caller never waits
longer than that in silence.

    >>> import asyncio, socket, tempfile
    >>> from pathlib import Path
    >>> from firmware_app.web.client import HttpClient
    >>> with socket.socket() as s:              # a local port nothing listens on: the server is down
    ...     _ = s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]
    >>> async def demo(folder):
    ...     web = OfflineFetcher(HttpClient(), cache=Cache(folder / "cache"), outbox=Outbox(folder / "outbox.sqlite"))
    ...     call = web.for_call("CA123", caller="+15550100")
    ...     resp = await call.fetch(Request("POST", f"http://127.0.0.1:{port}/demo/menu", {"Digits": "2"},
    ...                                     input={"Digits": "2"}))
    ...     await call.close(); await web.close()
    ...     return [n["event"] for n in resp.notes], resp.notes[-1]["source"], b"Enter a number" in resp.body
    >>> with tempfile.TemporaryDirectory() as folder:    # the input queued; flows/demo/menu/2.xml served
    ...     asyncio.run(demo(Path(folder)))
    (['error', 'queued', 'offline'], 'bundled', True)

What happened on the way is in the response's ``notes``: event dicts the call
emits (error, warning, queued, offline), since the caller's path changed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from dataclasses import dataclass, field, replace
from urllib.parse import urlsplit

from ..twiml.parse import TwimlError, parse
from .breaker import Breaker, origin
from .bundled import BundledFlows
from .call_fetcher import CallFetcher
from .durable import deliver_durably
from .cache import Cache, CacheError
from .client import FetchError, Request, Response, redact
from .outbox import REPLAY_HEADER, TOKEN_HEADER, Outbox, OutboxError, iso

log = logging.getLogger(__name__)

APOLOGY = (b"<Response><Say>We are sorry, an application error has occurred. Goodbye.</Say>"
           b"<Hangup/></Response>")
AUDIO_TYPES_REFUSED = ("text/html", "text/xml", "application/xml", "text/plain", "application/json")


@dataclass
class Served(Response):
    notes: list[dict] = field(default_factory=list)


def down(e: Exception) -> bool:
    return isinstance(e, FetchError) and e.down


def error_note(e: Exception, url: str) -> dict:
    return {"event": "error", "code": getattr(e, "code", 0), "message": getattr(e, "message", str(e)),
            "url": redact(url)}


class OfflineFetcher:
    def __init__(self, web, *, quick=None, cache: Cache | None = None, outbox: Outbox | None = None,
                 flows: BundledFlows | None = None, fallback_url: str = "", offline_flow: str = "",
                 connect_timeout: float = 2.0, probe_interval: float = 1.0, problems: list[str] = (),
                 warnings: list[str] = ()):
        self.web = web                        # audio, callbacks and outbox deliveries
        self.quick = quick or web             # TwiML and probes: the caller is waiting
        self.cache = cache
        self.outbox = outbox
        self.flows = flows or BundledFlows()
        self.fallback_url = fallback_url
        self.offline_flow = offline_flow
        self.connect_timeout = connect_timeout
        self.probe_interval = probe_interval
        self.breaker = Breaker(self._probe, probe_interval, on_close=self._flush_soon)
        self.unsaved: list[Request] = []      # action requests the outbox could not store, ready to send
        self.problems = [*({"event": "error", "code": 0, "message": p} for p in problems),
                         *({"event": "warning", "message": w} for w in warnings)]
        self._locks: dict[str, asyncio.Lock] = {}
        self._tasks: set[asyncio.Task] = set()
        self._retrier: asyncio.Task | None = None

    def for_call(self, call_sid: str, caller: str = "") -> CallFetcher:
        return CallFetcher(self, call_sid, caller)

    async def fetch(self, req: Request) -> Response:
        if self._retrier is None and (self.outbox is not None or self.unsaved):
            self._retrier = asyncio.get_running_loop().create_task(self._retry_forever())
        if req.kind == "twiml":
            return await self._twiml(req)
        if req.kind == "audio":
            return await self._audio(req)
        if req.kind == "status":
            resp, notes = await deliver_durably(self, req)
            return Served(resp.url, resp.status, resp.body, resp.headers, notes)
        return await self._send(req)

    async def close(self) -> None:
        await self.breaker.stop()
        for task in [*self._tasks, *([self._retrier] if self._retrier else [])]:
            task.cancel()
        await asyncio.gather(*self._tasks, *([self._retrier] if self._retrier else []), return_exceptions=True)
        for client in {id(self.web): self.web, id(self.quick): self.quick}.values():
            if hasattr(client, "close"):
                await client.close()

    def _take_problems(self) -> list[dict]:
        notes, self.problems = self.problems, []
        return notes

    # TwiML: the caller is waiting

    async def _twiml(self, req: Request) -> Served:
        notes = self._take_problems()
        deadline = time.monotonic() + self.connect_timeout
        started = time.monotonic()
        bundled = req.url.startswith("flows:")
        action = bool(req.input) and not bundled
        if not bundled and TOKEN_HEADER not in req.headers:
            req = replace(req, headers={**req.headers, TOKEN_HEADER: uuid.uuid4().hex})
        waiting = self._backlog(req.url) if action else 0
        if waiting and not self.breaker.is_open(req.url):
            # The origin gets its earlier input first; this caller waits for that only so long.
            await asyncio.wait([self._flush_now(req.url)], timeout=self.connect_timeout / 2)
            waiting = self._backlog(req.url)
        try:
            if waiting:
                raise FetchError(11205, f"{waiting} earlier request(s) for this server not delivered yet; "
                                 "this one waits its turn in the outbox", req.url)
            resp = await self._from_origin(req, self.quick, check_twiml, notes, deadline)
            return Served(resp.url, resp.status, resp.body, resp.headers, notes)
        except (FetchError, TwimlError) as e:
            failed = e
        notes.append(error_note(failed, req.url))
        if action and isinstance(failed, FetchError) and failed.undelivered:
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
        notes.append({"event": "offline", "source": source, "url": redact(resp.url), "for": redact(req.url),
                      "wait": round(time.monotonic() - started, 3)})
        return Served(resp.url, 200, resp.body, resp.headers, notes)

    def _fallbacks(self, req: Request, failed: Exception, notes: list[dict], deadline: float):
        if self.fallback_url and req.url != self.fallback_url:
            params = {**req.params, "ErrorCode": str(failed.code), "ErrorUrl": req.url}
            # The designated fallback is always tried, breaker or not: the shared deadline bounds it.
            fallback = replace(req, method="POST", url=self.fallback_url, params=params, input={}, headers={})
            yield "fallback", self._from_origin(fallback, self.quick, check_twiml, notes, deadline, guarded=False)
        if not down(failed):
            return  # the server answered: Twilio's path is the fallback_url, then the apology
        yield "cache", self._cached(req)
        if not req.url.startswith("flows:"):
            yield "bundled", self._bundled(req)
        if self.offline_flow and req.url != self.offline_flow:
            offline = replace(req, method="POST", url=self.offline_flow, input={}, headers={})
            yield "offline_flow", self._from_origin(offline, self.quick, check_twiml, notes, deadline)

    async def _cached(self, req: Request) -> Response | None:
        entry = self.cache.lookup(req) if self.cache else None
        if entry is None:
            return None
        resp = entry.response()
        check_twiml(resp)
        self.cache.used(entry)
        return resp

    async def _bundled(self, req: Request) -> Response | None:
        found = self.flows.find(urlsplit(req.url).path or "/index", req.params)
        if found is None:
            return None
        resp = Response(req.url, 200, found.read_bytes(), {"content-type": "text/xml"})
        check_twiml(resp)
        return resp

    # Audio: a stale copy beats silence; a failing file never marks its origin down

    async def _audio(self, req: Request) -> Response:
        notes = self._take_problems()
        try:
            resp = await self._from_origin(req, self.web, check_audio, notes, None)
            return Served(resp.url, resp.status, resp.body, resp.headers, notes)
        except FetchError as e:
            failed = e
        entry = self._lookup(req, notes)
        if entry is None:
            raise failed
        self.cache.used(entry)
        notes += [error_note(failed, req.url),
                  {"event": "offline", "source": "cache", "url": redact(req.url), "for": redact(req.url)}]
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

    def _lookup(self, req: Request, notes: list[dict]):
        if self.cache is None:
            return None
        try:
            return self.cache.lookup(req)
        except CacheError as e:
            self._cache_failed(e, notes)
            return None

    def _cache_failed(self, e: CacheError, notes: list[dict]) -> None:
        """A full or read-only disk: say so once, then run without the cache."""
        self.cache = None
        notes.append({"event": "warning", "message": f"{e}; the cache is bypassed from now on"})
        log.warning("%s; the cache is bypassed from now on", e)

    async def _from_origin(self, req: Request, client, check, notes: list[dict], deadline: float | None,
                           guarded: bool = True) -> Response:
        if req.url.startswith("flows:"):
            resp = await self.flows.fetch(req)
            check(resp)
            return resp
        entry = self._lookup(req, notes)
        if entry and entry.fresh and req.method == "GET" and not req.input:
            self.cache.used(entry)
            return entry.response()
        if guarded and self.breaker.is_open(req.url):
            raise FetchError(11205, self.breaker.why(req.url), req.url)
        if entry and req.method == "GET":
            req = replace(req, headers={**req.headers, **entry.validators()})
        try:
            resp = await self._timed(client, req, deadline)
        except FetchError as e:
            self._saw(req, e)
            raise
        self.breaker.close(req.url)
        if resp.status == 304:
            if entry is None:
                raise FetchError(11200, "HTTP 304 for a request the box has no copy of", req.url, 304)
            try:
                entry = self.cache.refresh(entry, resp)
            except CacheError as e:
                self._cache_failed(e, notes)
            return entry.response()
        check(resp)
        if self.cache:
            try:
                await asyncio.to_thread(self.cache.store, req, resp)  # hashes and writes the body
            except CacheError as e:
                self._cache_failed(e, notes)
        return resp

    def _saw(self, req: Request, e: FetchError) -> None:
        """What a failure says about the origin: an HTTP answer means it is up; no answer, that
        it is down, unless the request was for audio or a callback (that URL's own failure)."""
        if e.status is not None and not e.down:
            self.breaker.close(req.url)
        elif e.down and req.kind == "twiml":
            self.breaker.trip(req.url, e.message)

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
            resp = await self.web.fetch(req)
        except FetchError as e:
            self._saw(req, e)
            raise
        self.breaker.close(req.url)
        return resp

    async def _probe(self, key: str) -> bool:
        """Ask the origin itself, never the URL that failed: any answer but a gateway's says it is up."""
        try:
            await self.quick.fetch(Request("GET", key + "/", {}, kind="callback", headers={"X-Ivrbox-Probe": "1"}))
        except FetchError as e:
            return not e.down
        except Exception:  # the probe must keep watching whatever goes wrong
            return False
        return True

    # The outbox

    def _backlog(self, url: str) -> int:
        key = origin(url)
        stored = 0
        if self.outbox is not None:
            try:
                stored = self.outbox.count(key)
            except Exception:  # an unreadable outbox holds nothing back
                stored = 0
        return stored + sum(origin(r.url) == key for r in self.unsaved)

    async def _queue(self, req: Request, notes: list[dict]) -> None:
        shown = {"url": redact(req.url), "input": req.input}
        if self.outbox is not None:
            try:
                # put() returns once the row is on disk: an fsync, too slow for the audio loop on an SD card
                item = await asyncio.to_thread(self.outbox.put, req)
                notes.append({"event": "queued", "id": item.id, **shown})
                return
            except OutboxError as e:
                problem = str(e)
        else:
            problem = "no outbox (it could not be opened)"
        held = replace(req, kind="callback", jar=None, headers={**req.headers, REPLAY_HEADER: iso(time.time())})
        self.unsaved.append(held)
        log.warning("%s; holding in memory until the server is back: %s %s %s", problem, req.method,
                    redact(req.url), json.dumps(req.params))
        notes.append({"event": "error", "code": 0, **shown, "params": req.params,
                      "message": f"{problem}; the request is kept in memory only until the server is back"})

    def _flush_soon(self, key: str) -> None:
        self._flush_now(key)

    def _flush_now(self, url: str | None = None) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(self.flush(url))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _retry_forever(self) -> None:
        """Deliver what waits for origins that are not known down and whose backoff is over."""
        while True:
            await asyncio.sleep(self.probe_interval)
            try:
                await self.flush(due_only=True)
            except Exception as e:  # a broken disk must not stop the retries of what is in memory
                log.warning("outbox retry failed: %s", e)

    def _origins(self, due_only: bool) -> list[str]:
        keys = list(dict.fromkeys(origin(r.url) for r in self.unsaved))
        if self.outbox is not None:
            keys += [k for k in self.outbox.origins(due_only) if k not in keys]
        return [k for k in keys if k not in self.breaker.opened]

    async def flush(self, url: str | None = None, due_only: bool = False) -> int:
        """Deliver what the server missed, oldest first per origin. Returns how many were delivered."""
        keys = [origin(url)] if url else self._origins(due_only)
        sent = 0
        for key in keys:
            sent += await self._flush_origin(key)
        return sent

    async def _flush_origin(self, key: str) -> int:
        async with self._locks.setdefault(key, asyncio.Lock()):
            sent = 0
            for req in [r for r in self.unsaved if origin(r.url) == key]:
                try:
                    await self._send(req)
                except FetchError as e:
                    if e.undelivered:
                        return sent
                self.unsaved.remove(req)
                sent += 1
            if self.outbox is not None:
                sent += (await self.outbox.deliver(self, only=key))[0]
            return sent


def check_twiml(resp: Response) -> None:
    """Raise TwimlError unless the body is a TwiML document (parse refuses bombs and entities)."""
    parse(resp.body, resp.url)


def check_audio(resp: Response) -> None:
    if resp.content_type in AUDIO_TYPES_REFUSED or resp.body.lstrip()[:1] == b"<":
        what = resp.content_type or "markup"
        raise FetchError(12300, f"the audio URL returned {what}: a page (HTML, XML or text), not audio",
                         resp.url, resp.status)
