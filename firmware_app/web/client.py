"""Fetches TwiML and audio over HTTP the way Twilio's webhooks do.

    >>> client = HttpClient(auth_token="secret")
    >>> resp = await client.fetch(Request("POST", "http://127.0.0.1:8080/ivr", {"Digits": "1"}))  # doctest: +SKIP

Every request is signed with X-Twilio-Signature. Redirects (3xx) are
followed with a GET that does not resend the parameters, as the seed page
says. Failures raise FetchError carrying Twilio's error code. The socket
work runs in a thread with one deadline for the whole exchange, so a server
that trickles bytes cannot hold a call longer than the timeout.

Anything with ``async fetch(Request) -> Response`` can stand in for this
client; the cache and the outbox wrap it that way.
"""

from __future__ import annotations

import asyncio
import http.client
import socket
import ssl
import time
from dataclasses import dataclass, field
from urllib.parse import urlencode, urljoin, urlsplit

from .. import __version__
from .signature import sign

TWIML_LIMIT = 64 * 1024
AUDIO_LIMIT = 16 * 1024 * 1024
REDIRECT_LIMIT = 10


@dataclass
class Request:
    method: str
    url: str
    params: dict[str, str] = field(default_factory=dict)
    kind: str = "twiml"  # twiml | audio | callback
    headers: dict[str, str] = field(default_factory=dict)
    caller_input: bool = False  # params carry what the caller entered (a <Gather>'s action)


@dataclass
class Response:
    url: str
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()


class FetchError(Exception):
    def __init__(self, code: int, message: str, url: str, status: int | None = None):
        super().__init__(f"{code}: {message} ({url})")
        self.code, self.message, self.url, self.status = code, message, url, status

    @property
    def unreachable(self) -> bool:
        """DNS failure, refused connection, timeout or 5xx: the origin is down, not wrong."""
        return self.code == 11205 or (self.status is not None and self.status >= 500)


def with_query(url: str, params: dict[str, str]) -> str:
    if not params:
        return url
    return url + ("&" if urlsplit(url).query else "?") + urlencode(params)


class HttpClient:
    def __init__(self, auth_token: str = "", timeout: float = 15.0, connect_timeout: float = 15.0):
        self.auth_token = auth_token
        self.timeout = timeout
        self.connect_timeout = min(connect_timeout, timeout)

    async def fetch(self, req: Request) -> Response:
        return await asyncio.get_running_loop().run_in_executor(None, self.fetch_blocking, req)

    def fetch_blocking(self, req: Request) -> Response:
        deadline = time.monotonic() + self.timeout
        limit = AUDIO_LIMIT if req.kind == "audio" else TWIML_LIMIT
        method, url, params = req.method, req.url, dict(req.params)
        for _ in range(REDIRECT_LIMIT + 1):
            resp = self._exchange(method, url, params, req.headers, deadline, limit)
            location = resp.headers.get("location")
            if resp.status in (301, 302, 303, 307, 308) and location:
                method, url, params = "GET", urljoin(url, location), {}
                continue
            if resp.status >= 400:
                raise FetchError(11200, f"HTTP {resp.status} from the server", url, resp.status)
            return resp
        raise FetchError(11215, f"more than {REDIRECT_LIMIT} redirects", req.url)

    def _exchange(self, method, url, params, extra_headers, deadline, limit) -> Response:
        parts = urlsplit(url)
        try:
            port = parts.port
        except ValueError as e:
            raise FetchError(11100, f"invalid URL {url!r}: {e}", url) from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise FetchError(11100, f"not an http(s) URL: {url!r}", url)
        body = None
        headers = {"User-Agent": f"ivrbox/{__version__} (TwilioProxy/1.1)", "Accept": "*/*", **extra_headers}
        if method == "POST":
            body = urlencode(params).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded; charset=utf-8"
            target = url
        else:
            target, params = with_query(url, params), {}
        if self.auth_token:
            headers["X-Twilio-Signature"] = sign(self.auth_token, target, params)
        remaining = deadline - time.monotonic()
        conn_cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        conn = conn_cls(parts.hostname, port, timeout=min(self.connect_timeout, remaining))
        path = urlsplit(target)._replace(scheme="", netloc="").geturl() or "/"
        try:
            try:
                conn.connect()
            except socket.gaierror as e:
                raise FetchError(11205, f"DNS lookup of {parts.hostname} failed: {e.strerror}", url) from None
            except (TimeoutError, socket.timeout):
                raise FetchError(11205, f"connecting timed out after {self.connect_timeout:g} s", url) from None
            except ssl.SSLError as e:
                raise FetchError(11220, f"TLS handshake failed: {e.reason}", url) from None
            except OSError as e:
                raise FetchError(11205, f"connection failed: {e.strerror or e}", url) from None
            sock = conn.sock  # the response takes the connection's socket; keep ours to set deadlines on
            sock.settimeout(max(0.001, deadline - time.monotonic()))
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            chunks, size = [], 0
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError
                sock.settimeout(left)
                chunk = resp.read1(65536)
                if not chunk:
                    break
                size += len(chunk)
                if size > limit:
                    raise FetchError(11750, f"response body over the {limit // 1024} KiB limit", url, resp.status)
                chunks.append(chunk)
            return Response(url, resp.status, b"".join(chunks), {k.lower(): v for k, v in resp.getheaders()})
        except (TimeoutError, socket.timeout):
            raise FetchError(11205, f"no complete response within {self.timeout:g} s", url) from None
        except ssl.SSLError as e:
            raise FetchError(11220, f"TLS failed mid-exchange: {e.reason}", url) from None
        except (http.client.HTTPException, OSError) as e:
            raise FetchError(11206, f"HTTP protocol error: {type(e).__name__} {e}", url) from None
        finally:
            conn.close()
