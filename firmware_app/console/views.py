"""The console's routes: a page and a JSON twin under /api/ for each, the actions, the live feed.

Pages and the API call the same functions in ``data``; the pages render
them with Jinja2, the API returns them as JSON. Actions are POST forms
(each with the session's CSRF token) that redirect back to their page, or
answer JSON under /api/.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from pathlib import Path
from urllib.parse import urlencode

from aiohttp import web

from ..events import STANDARD_PARAMS, to_json
from .data import (Box, cache, call, calls, config_view, dashboard, flows, item, outbox, outbox_counts, redact,
                   server_state, voicemail, when)
from .testcall import TestCallError, start as start_call, view as test_view
from .auth import verify_password
from .guard import SESSION, wants_json

log = logging.getLogger("ivrbox.console")


class Pages:
    """The console's Jinja2 templates in FOLDER, with GLOBALS. Jinja2 loads with the first
    page shown, not with the box: a console nobody opens costs it nothing."""

    def __init__(self, folder: Path, **globals):
        self.folder, self.globals = folder, globals

    @functools.cached_property
    def env(self):
        import jinja2

        env = jinja2.Environment(loader=jinja2.FileSystemLoader(self.folder), autoescape=True)
        env.globals.update(self.globals)
        return env

    def render(self, template: str, context: dict) -> web.Response:
        return web.Response(text=self.env.get_template(template).render(context), content_type="text/html")


BOX = web.AppKey("box", Box)
PAGES = web.AppKey("pages", Pages)
KEEPALIVE_SECONDS = 15.0
STATUS_SECONDS = 2.0            # how often the dashboard's counters are checked for a change
MAX_WATCHERS = 100              # live pages open at once (each holds a feed of FEED_SIZE)
WARMS_KEPT = 20                 # cache warm results listed
routes = web.RouteTableDef()


def page_and_api(path: str, template: str):
    """Register GET PATH (the page) and GET /api/PATH (its data) for one data function."""
    def register(fn):
        async def page(request: web.Request) -> web.StreamResponse:
            result = await fn(request)
            if wants_json(request):
                return web.Response(text=to_json(result), content_type="application/json")
            return render(request, template, result)
        routes.get(path)(page)
        routes.get("/api" + (path if path != "/" else "/dashboard"))(page)
        return fn
    return register


def render(request: web.Request, template: str, result: dict) -> web.Response:
    session = request[SESSION]
    box = request.app[BOX]
    context = {"data": result, "csrf": session.csrf, "signed_in": session.signed_in,
               "needs_password": bool(box.config["console"]["password_hash"]), "when": when,
               "path": request.path, "message": request.query.get("msg", ""),
               "standard": ",".join(sorted(STANDARD_PARAMS))}
    return request.app[PAGES].render(template, context)


def caller_params(params: dict) -> dict:
    """A request's parameters without Twilio's standard ones (what the caller added), as the log shows them."""
    return {k: v for k, v in params.items() if k not in STANDARD_PARAMS}


def done(request: web.Request, back: str, message: str, result: dict | None = None, status: int = 200):
    """An action's answer: JSON under /api/, else a redirect to BACK saying MESSAGE."""
    if wants_json(request):
        return web.Response(text=to_json({"message": message, **(result or {})}), status=status,
                            content_type="application/json")
    return web.Response(status=303, headers={"Location": f"{back}?{urlencode({'msg': message})}"})


def action(path: str):
    def register(fn):
        routes.post(path)(fn)
        routes.post("/api" + path)(fn)
        return fn
    return register


@page_and_api("/", "dashboard.html")
async def dashboard_page(request):
    return dashboard(request.app[BOX])


@page_and_api("/calls", "calls.html")
async def calls_page(request):
    return calls(request.app[BOX], request.query.get("number", "").strip(), request.query.get("date", "").strip())


@page_and_api("/calls/{sid}", "call.html")
async def call_page(request):
    found = call(request.app[BOX], request.match_info["sid"])
    if found is None:
        raise web.HTTPNotFound(text="no such call\n")
    return found


@page_and_api("/voicemail", "voicemail.html")
async def voicemail_page(request):
    return voicemail(request.app[BOX])


@page_and_api("/outbox", "outbox.html")
async def outbox_page(request):
    return outbox(request.app[BOX])


@page_and_api("/cache", "cache.html")
async def cache_page(request):
    return cache(request.app[BOX])


@page_and_api("/flows", "flows.html")
async def flows_page(request):
    return await flows(request.app[BOX])


@page_and_api("/config", "config.html")
async def config_page(request):
    return config_view(request.app[BOX])


@page_and_api("/test-call", "test_call.html")
async def test_calls_page(request):
    box = request.app[BOX]
    return {"url": redact(box.config["server"]["url"]), "caller": box.config["call"]["from"],
            "tests": [test_view(t) for t in reversed(box.tests.values())], "test": None}


@page_and_api("/test-call/{id}", "test_call.html")
async def test_call_page(request):
    box = request.app[BOX]
    test = box.tests.get(request.match_info["id"])
    if test is None:
        raise web.HTTPNotFound(text="no such test call\n")
    return {"url": redact(box.config["server"]["url"]), "caller": box.config["call"]["from"],
            "tests": [], "test": test_view(test)}


@action("/test-call")
async def start_test_call(request):
    form = await request.post()
    try:
        test = start_call(request.app[BOX], str(form.get("script", "")), str(form.get("caller", "")))
    except TestCallError as e:
        return done(request, "/test-call", str(e), status=400)
    if wants_json(request):
        return done(request, "", "started", {"id": test["id"]})
    return web.Response(status=303, headers={"Location": f"/test-call/{test['id']}"})


def recording_or_404(box: Box, sid: str):
    store = box.store
    try:
        path = store.path(sid) if store is not None else None    # KeyError for anything but a recording SID
    except KeyError:
        path = None
    if path is None or store.get(sid) is None or not path.is_file():
        raise web.HTTPNotFound(text="no such recording\n")
    return store, path


@routes.get("/voicemail/{sid}.wav")
async def recording_audio(request):
    _, path = recording_or_404(request.app[BOX], request.match_info["sid"])
    headers = {"Content-Type": "audio/wav"}
    if request.query.get("download"):
        headers["Content-Disposition"] = f'attachment; filename="{path.name}"'
    return web.FileResponse(path, headers=headers)


@action("/voicemail/{sid}/heard")
async def mark_heard(request):
    store, _ = recording_or_404(request.app[BOX], request.match_info["sid"])
    await asyncio.to_thread(store.mark_heard, request.match_info["sid"])
    return done(request, "/voicemail", "marked heard")


@action("/voicemail/{sid}/delete")
async def delete_recording(request):
    store, _ = recording_or_404(request.app[BOX], request.match_info["sid"])
    await asyncio.to_thread(store.delete, request.match_info["sid"])
    return done(request, "/voicemail", "deleted")


def outbox_or_409(box: Box):
    if box.fetcher.outbox is None:
        raise web.HTTPConflict(text="the outbox is not available on this box\n")
    return box.fetcher.outbox


def flush_soon(box: Box) -> None:
    task = asyncio.get_running_loop().create_task(box.fetcher.flush())
    box.background.add(task)
    task.add_done_callback(box.background.discard)


@action("/outbox/{id}/retry")
async def retry(request):
    box = request.app[BOX]
    moved = outbox_or_409(box).retry(request.match_info["id"])
    if not moved:
        return done(request, "/outbox", f"no dead letter {request.match_info['id']}", status=404)
    flush_soon(box)
    return done(request, "/outbox", "back in the queue; delivering now", {"moved": moved})


@action("/outbox/{id}/drop")
async def drop(request):
    dropped = outbox_or_409(request.app[BOX]).drop(request.match_info["id"])
    if dropped is None:
        return done(request, "/outbox", f"no undelivered item {request.match_info['id']}", status=404)
    return done(request, "/outbox", f"dropped {dropped.id}", {"dropped": item(dropped)})


@action("/outbox/flush")
async def flush(request):
    box = request.app[BOX]
    sent = await box.fetcher.flush()
    return done(request, "/outbox", f"delivered {sent}", {"delivered": sent})


@action("/cache/prune")
async def prune(request):
    box = request.app[BOX]
    if box.fetcher.cache is None:
        return done(request, "/cache", "the cache is not available", status=409)
    form = await request.post()
    try:
        days = float(form.get("older_than_days") or "nan")
        days = days if days == days else None
        mb = float(form.get("max_mb") or "nan")
        mb = mb if mb == mb else None
    except ValueError:
        return done(request, "/cache", "days and MB must be numbers", status=400)
    if days is None and mb is None:
        return done(request, "/cache", "give an age in days and/or a size in MB", status=400)
    if any(v is not None and not 0 <= v < float("inf") for v in (days, mb)):
        return done(request, "/cache", "days and MB must be finite and not negative", status=400)
    entries, files = box.fetcher.cache.prune(days * 86400 if days is not None else None,
                                             int(mb * 1024 * 1024) if mb is not None else None)
    return done(request, "/cache", f"pruned {entries} entries and {files} body files",
                {"entries": entries, "files": files})


@action("/cache/warm")
async def warm(request):
    from ..commands.cache import crawl

    box = request.app[BOX]
    url = str((await request.post()).get("url", "")).strip() or box.config["server"]["url"]
    if not url.startswith(("http://", "https://")):
        return done(request, "/cache", f"{redact(url)} is not an http(s) URL", status=400)
    shown = redact(url)
    if box.warming.get(shown, {}).get("state") == "warming":
        return done(request, "/cache", f"already warming {shown}", status=409)
    finished = [key for key, w in box.warming.items() if w["state"] != "warming"]
    for key in finished[:max(0, len(box.warming) - WARMS_KEPT + 1)]:
        del box.warming[key]
    box.warming[shown] = {"url": shown, "state": "warming", "documents": 0, "audio": 0, "errors": []}

    async def run():
        try:
            docs, audio, errors = await crawl(box.fetcher, url, box.config["server"]["method"], box.config)
            box.warming[shown].update(state="done", documents=docs, audio=audio, errors=errors[:50])
        except Exception as e:      # noqa: BLE001 - shown on the page
            box.warming[shown].update(state="failed", errors=[f"{type(e).__name__}: {e}"])

    task = asyncio.get_running_loop().create_task(run())
    box.background.add(task)
    task.add_done_callback(box.background.discard)
    return done(request, "/cache", f"warming {shown}", {"warming": shown})


@routes.get("/login")
async def login_page(request):
    if request[SESSION].signed_in:
        return web.Response(status=303, headers={"Location": "/"})
    return render(request, "login.html", {"error": ""})


@routes.post("/login")
async def login(request):
    box = request.app[BOX]
    address = request.remote or "?"
    wait = box.limiter.wait(address)
    if wait:
        return web.Response(status=429, text=f"too many failed logins; try again in {wait:.0f} s\n",
                            headers={"Retry-After": str(int(wait) + 1)})
    password = str((await request.post()).get("password", ""))
    stored = box.config["console"]["password_hash"]
    if not stored or not await asyncio.to_thread(verify_password, password, stored):
        box.limiter.failed(address)
        response = render(request, "login.html", {"error": "wrong password"})
        response.set_status(401)
        return response
    box.limiter.succeeded(address)
    box.sessions.end(request[SESSION])
    request[SESSION] = box.sessions.new(signed_in=True)
    return web.Response(status=303, headers={"Location": "/"})


@routes.post("/logout")
async def logout(request):
    box = request.app[BOX]
    box.sessions.end(request[SESSION])
    request[SESSION] = box.sessions.new(signed_in=False)
    return web.Response(status=303, headers={"Location": "/login" if box.config["console"]["password_hash"] else "/"})


def status(box: Box) -> dict:
    """The dashboard's counters: sent on the feed when they change."""
    server = server_state(box)
    return {"kind": "status", "server_up": server["up"], "server_since": when(server["since"]),
            "why": server["why"], **outbox_counts(box)}


@routes.get("/api/events")
async def events(request):
    """Server-Sent Events: the dashboard's changes, or with ?topic=test/ID one test call's events
    (those after ?after=N first, so a page rendered with N events misses none)."""
    box = request.app[BOX]
    topic = request.query.get("topic", "")
    test = box.tests.get(topic.removeprefix("test/")) if topic.startswith("test/") else None
    if topic and test is None:
        raise web.HTTPNotFound(text="no such test call\n")
    if box.live.watchers >= MAX_WATCHERS:
        raise web.HTTPServiceUnavailable(text="too many live pages open; close some\n")
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store",
                                           "X-Accel-Buffering": "no"})
    await response.prepare(request)
    feed = box.live.subscribe(topic)
    if test is not None:
        after = int(request.query.get("after", "0")) if request.query.get("after", "0").isdigit() else 0
        backlog = [{"kind": "event", "record": record} for record in test["events"][after:]]
        if test["done"]:
            backlog.append({"kind": "ended", "error": test["error"]})
        for message in backlog[-(feed.maxsize - 1):]:
            feed.put_nowait(message)
    sent, quiet = None, 0.0
    try:
        await response.write(b"retry: 2000\n\n")
        while True:
            try:
                message = await asyncio.wait_for(feed.get(), STATUS_SECONDS)
            except asyncio.TimeoutError:
                quiet += STATUS_SECONDS
                now = status(box) if not topic else sent
                if now != sent:
                    sent, quiet = now, 0.0
                    await response.write(f"event: status\ndata: {to_json(now)}\n\n".encode())
                elif quiet >= KEEPALIVE_SECONDS:
                    quiet = 0.0
                    await response.write(b": keepalive\n\n")
                continue
            if message is None:
                break
            await response.write(f"event: {message['kind']}\ndata: {to_json(message)}\n\n".encode())
    except (ConnectionResetError, ConnectionError):
        pass
    finally:
        box.live.unsubscribe(feed)
    return response
