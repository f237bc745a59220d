"""Who may use the console: the password hash, sessions, CSRF tokens, login rate limiting.

The password is kept only as an scrypt hash (the standard library's
``hashlib.scrypt``) in ``[console] password_hash``:

    >>> stored = hash_password("correct horse")
    >>> stored.startswith("scrypt$")
    True
    >>> verify_password("correct horse", stored), verify_password("wrong", stored)
    (True, False)
    >>> verify_password("x", "not a hash")
    False

Every browser gets a session (a random id in an HttpOnly, SameSite=Strict
cookie) carrying its own CSRF token; logging in marks it signed in and
gives it a new id.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import secrets
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2 ** 14, 8, 1      # 16 MiB per check: slow to guess, quick enough on a Pi
SESSION_SECONDS = 12 * 3600                       # idle time before a session is forgotten
MAX_SESSIONS = 1000                               # memory stays bounded whoever connects
LOGIN_FAILURES = 5                                # per address ...
LOGIN_WINDOW = 300.0                              # ... per this many seconds, then 429
MAX_TRACKED_ADDRESSES = 10000


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
    return "$".join(["scrypt", str(SCRYPT_N), str(SCRYPT_R), str(SCRYPT_P),
                     base64.b64encode(salt).decode(), base64.b64encode(digest).decode()])


def hash_problem(stored: str) -> str | None:
    """Why STORED is not a hash this module made, or None (for the config check).

    >>> hash_problem(""), hash_problem("hunter2")
    (None, 'is not a password hash: set it with `ivrbox console passwd`')
    """
    if stored == "":
        return None
    try:
        _parse(stored)
    except ValueError:
        return "is not a password hash: set it with `ivrbox console passwd`"
    return None


def _parse(stored: str) -> tuple[int, int, int, bytes, bytes]:
    kind, n, r, p, salt, digest = stored.split("$")
    if kind != "scrypt":
        raise ValueError(kind)
    n, r, p = int(n), int(r), int(p)
    if not (2 <= n <= 2 ** 20 and n & (n - 1) == 0 and 1 <= r <= 32 and 1 <= p <= 16):
        raise ValueError("cost out of range")
    return n, r, p, base64.b64decode(salt, validate=True), base64.b64decode(digest, validate=True)


def verify_password(password: str, stored: str) -> bool:
    try:
        n, r, p, salt, digest = _parse(stored)
    except ValueError:
        return False
    got = hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=len(digest),
                         maxmem=128 * r * (n + p + 2) + 1024 * 1024)
    return hmac.compare_digest(got, digest)


def is_loopback(host: str) -> bool:
    """
    >>> is_loopback("127.0.0.1"), is_loopback("::1"), is_loopback("localhost"), is_loopback("0.0.0.0")
    (True, True, True, False)
    """
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_listen(value: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[V6]:PORT`` for IPv6) as (host, port); ValueError says what is wrong.

    >>> parse_listen("127.0.0.1:8080"), parse_listen("[::]:80")
    (('127.0.0.1', 8080), ('::', 80))
    """
    host, sep, port = value.rpartition(":")
    if not sep or not host:
        raise ValueError("must be HOST:PORT, such as 127.0.0.1:8080 (empty turns the console off)")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ValueError("an IPv6 address goes in brackets: [::1]:8080")
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"port {port!r} must be a number from 0 to 65535")
    return host, int(port)


@dataclass
class Session:
    id: str
    csrf: str
    signed_in: bool = False
    seen: float = field(default_factory=time.monotonic)


class Sessions:
    """Sessions in memory (a restart signs everyone out), the least recently seen dropped past MAX_SESSIONS."""

    def __init__(self, max_sessions: int = MAX_SESSIONS, idle: float = SESSION_SECONDS):
        self._by_id: OrderedDict[str, Session] = OrderedDict()
        self.max_sessions, self.idle = max_sessions, idle

    def get(self, session_id: str | None) -> Session | None:
        session = self._by_id.get(session_id or "")
        if session is None:
            return None
        if time.monotonic() - session.seen > self.idle:
            del self._by_id[session.id]
            return None
        session.seen = time.monotonic()
        self._by_id.move_to_end(session.id)
        return session

    def new(self, signed_in: bool = False) -> Session:
        session = Session(secrets.token_urlsafe(32), secrets.token_urlsafe(32), signed_in)
        self._by_id[session.id] = session
        while len(self._by_id) > self.max_sessions:
            self._by_id.popitem(last=False)
        return session

    def end(self, session: Session) -> None:
        self._by_id.pop(session.id, None)


class LoginLimiter:
    """At most LOGIN_FAILURES failed logins per address in LOGIN_WINDOW seconds."""

    def __init__(self, failures: int = LOGIN_FAILURES, window: float = LOGIN_WINDOW):
        self.failures, self.window = failures, window
        self._seen: OrderedDict[str, deque[float]] = OrderedDict()

    def wait(self, address: str) -> float:
        """Seconds until ADDRESS may try again (0: now)."""
        times = self._seen.get(address)
        now = time.monotonic()
        while times and now - times[0] > self.window:
            times.popleft()
        if not times or len(times) < self.failures:
            return 0.0
        return self.window - (now - times[0])

    def failed(self, address: str) -> None:
        self._seen.setdefault(address, deque(maxlen=self.failures)).append(time.monotonic())
        self._seen.move_to_end(address)
        while len(self._seen) > MAX_TRACKED_ADDRESSES:
            self._seen.popitem(last=False)

    def succeeded(self, address: str) -> None:
        self._seen.pop(address, None)
