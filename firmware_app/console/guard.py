"""The console's middleware: security headers, sessions, sign-in, CSRF, and the Host check.

- Every response forbids framing and loads scripts and styles from the box only.
- Every browser gets a session cookie (HttpOnly, SameSite=Strict) with a CSRF token.
- With ``[console] password_hash`` set, everything but /login and /static/ needs a signed-in
  session: pages redirect to /login, the API answers 401.
- Every POST must carry the session's CSRF token (form field ``csrf`` or header ``X-CSRF-Token``).
- Without a password (loopback only) the Host header must name the box, so a web page that
  rebinds its DNS name to 127.0.0.1 cannot read the console.
"""

from __future__ import annotations

import hmac
from typing import Callable

from aiohttp import web

from .auth import Sessions, is_loopback

COOKIE = "ivrbox_console"
PUBLIC = ("/login", "/static/")
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; media-src 'self'; img-src 'self' data:; frame-ancestors 'none'; "
                               "form-action 'self'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
SESSION = "ivrbox_session"


def wants_json(request: web.Request) -> bool:
    return request.path.startswith("/api/")


def host_name(host: str) -> str:
    """
    >>> host_name("127.0.0.1:8080"), host_name("[::1]:80"), host_name("localhost")
    ('127.0.0.1', '::1', 'localhost')
    """
    if host.startswith("["):
        return host[1:].partition("]")[0]
    return host.rpartition(":")[0] if host.count(":") == 1 else host


def refuse(request: web.Request, status: int, message: str) -> web.Response:
    if wants_json(request):
        return web.json_response({"error": message}, status=status)
    return web.Response(status=status, text=message + "\n")


def middleware(sessions: Sessions, password_hash: Callable[[], str], listen_host: str):
    @web.middleware
    async def guard(request: web.Request, handler):
        needs_password = bool(password_hash())
        if not needs_password and not (is_loopback(host_name(request.host)) or host_name(request.host) == listen_host):
            return refuse(request, 421, "this console answers only to its own address")
        session = sessions.get(request.cookies.get(COOKIE))
        fresh = session is None
        if fresh:
            session = sessions.new(signed_in=False)
        request[SESSION] = session
        public = request.path == "/login" or request.path.startswith("/static/")
        if needs_password and not session.signed_in and not public:
            if request.method == "GET" and not wants_json(request):
                response = web.Response(status=303, headers={"Location": "/login"})
            else:
                response = refuse(request, 401, "sign in first")
        elif request.method == "POST" and not await csrf_ok(request, session.csrf):
            response = refuse(request, 403, "the form is out of date or not from this console (CSRF token)")
        else:
            try:
                response = await handler(request)
            except web.HTTPException as e:
                finish(request, e, fresh)
                raise
        return finish(request, response, fresh)

    return guard


def finish(request: web.Request, response: web.StreamResponse, fresh: bool) -> web.StreamResponse:
    if not response.prepared:
        response.headers.update({k: v for k, v in HEADERS.items() if k not in response.headers})
        session = request[SESSION]          # a login gives a new session
        if fresh or request.cookies.get(COOKIE) != session.id:
            response.set_cookie(COOKIE, session.id, httponly=True, samesite="Strict", path="/")
    return response


    return guard


async def csrf_ok(request: web.Request, expected: str) -> bool:
    given = request.headers.get("X-CSRF-Token")
    if given is None and request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        given = (await request.post()).get("csrf")
    return isinstance(given, str) and hmac.compare_digest(given, expected)
