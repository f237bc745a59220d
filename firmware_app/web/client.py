"""Fetches TwiML and audio over HTTP the way Twilio's webhooks do, on aiohttp.

    >>> import asyncio
    >>> from aiohttp import web
    >>> from aiohttp.test_utils import TestServer
    >>> from firmware_app.web.signature import sign
    >>> async def ivr(request):                  # a TwiML app on a local server, checking the signature
    ...     form = dict(await request.post())
    ...     valid = request.headers["X-Twilio-Signature"] == sign("secret", str(request.url), form)
    ...     return web.Response(text=f"<Response><Say>{form['Digits']} {valid}</Say></Response>")
    >>> async def demo():
    ...     app = web.Application()
    ...     app.router.add_post("/ivr", ivr)
    ...     async with TestServer(app, host="127.0.0.1") as server:
    ...         client = HttpClient(auth_token="secret")
    ...         resp = await client.fetch(Request("POST", str(server.make_url("/ivr")), {"Digits": "1"}))
    ...         await client.close()
    ...     return resp.status, resp.body
    >>> asyncio.run(demo())
    (200, b'<Response><Say>1 True</Say></Response>')

Every request is signed with X-Twilio-Signature. Redirects (3xx) are
followed with a GET that does not resend the parameters, as the seed page
says. Failures raise FetchError carrying Twilio's error code. One deadline
covers the whole exchange (connect, status line, headers, body, every
redirect), so a server that trickles bytes cannot hold a call longer than
the timeout; the body is read in chunks and cut at its size limit.

A request may carry a cookie jar (``Request.jar``): the cookies it holds go
out with the request, and cookies the server sets come back into it, as
Twilio keeps one jar per call. Credentials in the URL
(``https://user:pass@host/``) are sent as HTTP Basic auth; ``redact`` hides
the password wherever a URL is shown.

Anything with ``async fetch(Request) -> Response`` can stand in for this
client; the cache and the outbox wrap it that way.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import quote, urlencode, urljoin, urlsplit, urlunsplit

from .. import __version__
from .signature import sign

if TYPE_CHECKING:
    import aiohttp

TWIML_LIMIT = 64 * 1024
AUDIO_LIMIT = 16 * 1024 * 1024
REDIRECT_LIMIT = 10
GATEWAY_DOWN = (502, 503, 504)
# What a browser leaves alone in a path or query: the reserved characters and existing %XX escapes.
URL_SAFE = "/%:@!$&'()*+,;=-._~?"


@dataclass
class Request:
    method: str
    url: str
    params: dict[str, str] = field(default_factory=dict)
    kind: str = "twiml"  # twiml | audio | callback
    headers: dict[str, str] = field(default_factory=dict)
    # The caller's input among the params (a gather's result), named by whoever
    # builds the request: the web layer keys, queues and lists it without knowing the names.
    input: dict[str, str] = field(default_factory=dict)
    caller: str = ""  # whose call: a private cached answer is only served back to the same caller
    jar: aiohttp.CookieJar | None = field(default=None, repr=False, compare=False)


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
    """A failed fetch with Twilio's error code. ``status`` is the HTTP status when one came back."""

    def __init__(self, code: int, message: str, url: str, status: int | None = None):
        url = redact(url)
        super().__init__(f"{code}: {message} ({url})")
        self.code, self.message, self.url, self.status = code, message, url, status

    @property
    def down(self) -> bool:
        """The origin is down: no answer at all (DNS, refused, reset, timeout), a gateway's
        502/503/504, or an answer too slow to finish within the deadline."""
        return self.status in GATEWAY_DOWN or self.code in (11205, 11206, 11220) and (
            self.status is None or self.code == 11205)

    @property
    def undelivered(self) -> bool:
        """The server may not have the request: no status line came back, or a gateway answered."""
        return self.status in GATEWAY_DOWN or (self.status is None and self.code in (11205, 11206, 11220))

    # The name the rest of the box has used for "no answer": kept for the callers outside web/.
    unreachable = down


def redact(url: str) -> str:
    """URL with its password hidden.

    >>> redact("https://ann:s3cret@example.com/ivr")
    'https://ann:***@example.com/ivr'
    >>> redact("https://example.com/ivr")
    'https://example.com/ivr'
    >>> redact("http://ann:pw@[::1/x")
    'http://ann:***@[::1/x'
    """
    try:
        parts = urlsplit(url)
    except ValueError:  # a URL that cannot be built may still carry a password
        return re.sub(r"(//[^/@:]*:)[^/@]*@", r"\1***@", url)
    if parts.password is None:
        return url
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{parts.netloc.rpartition('@')[2]}"))


def browser_url(url: str) -> tuple[str, str | None]:
    """The URL as a browser sends it: no fragment, no credentials (returned as a
    Basic ``Authorization`` header), an IDNA host, a percent-encoded path and
    query. Raises ValueError when it cannot be built.

    >>> browser_url("http://ann:pw@bücher.example/menü/a b?x=ä#top")
    ('http://xn--bcher-kva.example/men%C3%BC/a%20b?x=%C3%A4', 'Basic YW5uOnB3')
    >>> browser_url("http://[::1]:8080/ivr")[0]
    'http://[::1]:8080/ivr'
    """
    import aiohttp  # the network libraries load with the first fetch: reading flows needs none of them
    import idna

    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"not an http(s) URL: {url!r}")
    port = parts.port  # raises ValueError for a port out of range or not a number
    host = parts.hostname
    if not host:
        raise ValueError(f"no host in {url!r}")
    if ":" in host:
        host = f"[{ipaddress.IPv6Address(host.split('%')[0]).compressed}]"
    else:
        try:
            host = idna.encode(host, uts46=True).decode()
        except idna.IDNAError as e:
            raise ValueError(f"bad host name {parts.hostname!r}: {e}") from None
    netloc = host if port is None else f"{host}:{port}"
    path = quote(parts.path or "/", safe=URL_SAFE)
    query = quote(parts.query, safe=URL_SAFE + "[]")
    auth = None
    if parts.username is not None:
        from urllib.parse import unquote

        auth = aiohttp.encode_basic_auth(unquote(parts.username), unquote(parts.password or ""))
    return urlunsplit((parts.scheme, netloc, path, query, "")), auth


def with_query(url: str, params: dict[str, str]) -> str:
    """URL with PARAMS appended to its query string, its #fragment dropped first.

    >>> with_query("http://h/ivr?a=1#top", {"Digits": "2"})
    'http://h/ivr?a=1&Digits=2'
    """
    url = url.partition("#")[0]
    if not params:
        return url
    return url + ("&" if "?" in url else "?") + urlencode(params)


class HttpClient:
    def __init__(self, auth_token: str = "", timeout: float = 15.0, connect_timeout: float = 15.0):
        self.auth_token = auth_token
        self.timeout = timeout
        self.connect_timeout = min(connect_timeout, timeout)
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        import aiohttp

        if self._session is None or self._session.closed:
            # Cookies live in each call's jar (Request.jar), never in the shared session.
            self._session = aiohttp.ClientSession(
                cookie_jar=aiohttp.DummyCookieJar(), auto_decompress=True,
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=self.connect_timeout))
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def fetch(self, req: Request) -> Response:
        limit = AUDIO_LIMIT if req.kind == "audio" else TWIML_LIMIT
        method, url, params = req.method, req.url, dict(req.params)
        progress = {"status": None}
        try:
            async with asyncio.timeout(self.timeout):
                for _ in range(REDIRECT_LIMIT + 1):
                    resp = await self._exchange(method, url, params, req, limit, progress)
                    location = resp.headers.get("location")
                    if resp.status in (301, 302, 303, 307, 308) and location:
                        method, url, params = "GET", urljoin(url, location), {}
                        progress["status"] = None
                        continue
                    if resp.status >= 400:
                        raise FetchError(11200, f"HTTP {resp.status} from the server", url, resp.status)
                    return resp
        except TimeoutError:
            if progress["status"] is None:
                raise FetchError(11205, f"no response within {self.timeout:g} s", url) from None
            raise FetchError(11205, f"no complete response within {self.timeout:g} s", url,
                             progress["status"]) from None
        raise FetchError(11215, f"more than {REDIRECT_LIMIT} redirects", req.url)

    async def _exchange(self, method, url, params, req: Request, limit: int, progress: dict) -> Response:
        import aiohttp
        from yarl import URL

        try:
            target, auth = browser_url(url)
        except ValueError as e:
            raise FetchError(11100, f"invalid URL {redact(url)!r}: {e}", url) from None
        headers = {"User-Agent": f"ivrbox/{__version__} (TwilioProxy/1.1)", "Accept": "*/*", **req.headers}
        if auth:
            headers["Authorization"] = auth
        body = None
        if method == "POST":
            body = urlencode(params).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded; charset=utf-8"
        else:
            target, params = with_query(target, params), {}
        if self.auth_token:
            headers["X-Twilio-Signature"] = sign(self.auth_token, target, params)
        address = URL(target, encoded=True)
        cookies = req.jar.filter_cookies(address) if req.jar is not None else None
        host = urlsplit(target).hostname
        try:
            async with self._open().request(method, address, data=body, headers=headers,
                                            cookies=cookies, allow_redirects=False) as resp:
                progress["status"] = resp.status
                if req.jar is not None:
                    req.jar.update_cookies(resp.cookies, resp.url)
                chunks, size = [], 0
                async for chunk in resp.content.iter_chunked(65536):
                    size += len(chunk)
                    if size > limit:
                        raise FetchError(11750, f"response body over the {limit // 1024} KiB limit", url,
                                         resp.status)
                    chunks.append(chunk)
                return Response(url, resp.status, b"".join(chunks), {k.lower(): v for k, v in resp.headers.items()})
        except aiohttp.InvalidURL as e:
            raise FetchError(11100, f"invalid URL {redact(url)!r}: {e}", url) from None
        except (aiohttp.ClientSSLError, aiohttp.ServerFingerprintMismatch) as e:
            raise FetchError(11220, f"TLS failed: {e}", url, progress["status"]) from None
        except aiohttp.ConnectionTimeoutError:
            raise FetchError(11205, f"connecting timed out after {self.connect_timeout:g} s", url) from None
        except aiohttp.ClientConnectorDNSError as e:
            raise FetchError(11205, f"DNS lookup of {host} failed: {e.os_error.strerror or e}", url) from None
        except aiohttp.ClientConnectorError as e:
            why = os.strerror(e.os_error.errno) if e.os_error.errno else str(e.os_error)
            raise FetchError(11205, f"connection failed: {why}", url) from None
        except (aiohttp.ClientError, OSError) as e:
            raise FetchError(11206, f"HTTP protocol error: {type(e).__name__} {e}", url, progress["status"]) from None
