"""The cache of every TwiML document and audio file the box fetched.

An SQLite index (``index.sqlite``) maps a request to the stored answer; the
bodies are files under ``bodies/``, named by their SHA-256, written to a
temporary name and renamed so a crash never leaves half a body behind.

    >>> import tempfile
    >>> folder = tempfile.TemporaryDirectory()
    >>> cache = Cache(folder.name)
    >>> sound = Request("GET", "http://h/a.wav", kind="audio")
    >>> entry = cache.store(sound, Response("http://h/a.wav", 200, b"RIFF", {"cache-control": "max-age=60"}))
    >>> found = cache.lookup(Request("GET", "http://h/a.wav", kind="audio"))
    >>> found.fresh, found.response().body
    (True, b'RIFF')
    >>> cache.close(); folder.cleanup()

A request is keyed by method, URL and the caller's input (``Request.input``),
not by CallSid. Who may be served an answer: a GET document or audio file,
and any response marked ``Cache-Control: public``, is shared by every call;
a POST document is kept for the caller it answered (``Request.caller``) and
never served to another caller, since it may name them or their balance
(what ``ivrbox cache warm`` fetches, for no caller, is shared).
Freshness follows Cache-Control (max-age, s-maxage, no-cache, no-store) and
Expires; a stale entry is revalidated with If-None-Match / If-Modified-Since,
and is kept, whatever happens to the refresh, to be served when the origin is
unreachable. ``max_bytes`` holds after every store, across processes: the
least recently used entries go first, and a hit counts as a use.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path

from .client import Request, Response

SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    key TEXT PRIMARY KEY,
    method TEXT NOT NULL,
    url TEXT NOT NULL,
    input TEXT NOT NULL,
    kind TEXT NOT NULL,
    final_url TEXT NOT NULL,
    headers TEXT NOT NULL,
    body TEXT NOT NULL,
    size INTEGER NOT NULL,
    stored_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    used_at REAL NOT NULL
)"""


class CacheError(Exception):
    """The cache could not read or write its disk (a full disk, a read-only mount)."""


def default_dir() -> Path:
    """$CACHE_DIRECTORY under systemd, else $XDG_CACHE_HOME/ivrbox, else ~/.cache/ivrbox."""
    if os.environ.get("CACHE_DIRECTORY"):
        return Path(os.environ["CACHE_DIRECTORY"].split(":")[0])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "ivrbox"


def cache_dir(config: dict) -> Path:
    return Path(config["cache"]["dir"]) if config["cache"]["dir"] else default_dir()


def request_key(req: Request, shared: bool = True) -> str:
    """The index key; a private answer's key also names the caller it was for."""
    parts = [req.method.upper(), req.url, req.input]
    if not shared:
        parts.append(["caller", req.caller])
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def shared(req: Request, headers: dict[str, str]) -> bool:
    """Whether an answer may be served to any caller: GET answers unless marked private,
    POST answers only when marked public or fetched for no caller in particular (``cache warm``)."""
    if not req.caller:
        return True
    directives = {part.strip().partition("=")[0] for part in headers.get("cache-control", "").lower().split(",")}
    if "public" in directives:
        return True
    return req.method.upper() == "GET" and "private" not in directives


def expiry(headers: dict[str, str], now: float) -> float | None:
    """When a response goes stale, or None when it must not be stored."""
    directives = {}
    for part in headers.get("cache-control", "").lower().split(","):
        name, _, value = part.strip().partition("=")
        if name:
            directives[name] = value.strip('"')
    if "no-store" in directives:
        return None
    if "no-cache" in directives:
        return now
    for name in ("s-maxage", "max-age"):
        if name in directives:
            try:
                return now + max(0, int(directives[name]))
            except ValueError:
                return now
    if "expires" in headers:
        try:
            return parsedate_to_datetime(headers["expires"]).timestamp()
        except (TypeError, ValueError):
            return now
    return now


@dataclass
class Entry:
    key: str
    method: str
    url: str
    input: dict[str, str]
    kind: str
    final_url: str
    headers: dict[str, str]
    body_path: Path
    size: int
    stored_at: float
    expires_at: float

    @property
    def fresh(self) -> bool:
        return time.time() < self.expires_at

    def validators(self) -> dict[str, str]:
        """The conditional headers that let the origin answer 304 Not Modified."""
        out = {}
        if "etag" in self.headers:
            out["If-None-Match"] = self.headers["etag"]
        if "last-modified" in self.headers:
            out["If-Modified-Since"] = self.headers["last-modified"]
        return out

    def response(self, url: str | None = None) -> Response:
        return Response(url or self.final_url, 200, self.body_path.read_bytes(), dict(self.headers))


class Cache:
    def __init__(self, root: str | Path, max_bytes: int | None = None):
        """``max_bytes`` bounds the bodies kept: a box left running on a real line
        stores one answer per distinct caller input, so it prunes as it goes."""
        self.root = Path(root)
        self.max_bytes = max_bytes
        self.bodies = self.root / "bodies"
        try:
            self.bodies.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(self.root / "index.sqlite", isolation_level=None, check_same_thread=False,
                                      timeout=10)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.execute(SCHEMA)
        except (OSError, sqlite3.Error) as e:
            raise CacheError(f"cannot open the cache in {self.root}: {e}") from None

    def close(self) -> None:
        self.db.close()

    def _entry(self, row) -> Entry:
        key, method, url, inp, kind, final_url, headers, body, size, stored_at, expires_at = row
        return Entry(key, method, url, json.loads(inp), kind, final_url, json.loads(headers),
                     self.bodies / body[:2] / body, size, stored_at, expires_at)

    COLUMNS = "key, method, url, input, kind, final_url, headers, body, size, stored_at, expires_at"

    def lookup(self, req: Request) -> Entry | None:
        """The stored answer to this request, fresh or stale, if its body is still on disk."""
        try:
            for key in (request_key(req), request_key(req, shared=False)):
                row = self.db.execute(f"SELECT {self.COLUMNS} FROM entries WHERE key = ?", (key,)).fetchone()
                if row is not None:
                    break
        except sqlite3.Error as e:
            raise CacheError(f"cache index unreadable: {e}") from None
        if row is None:
            return None
        entry = self._entry(row)
        return entry if entry.body_path.is_file() else None

    def used(self, entry: Entry) -> None:
        """ENTRY was served: it is the most recently used. A read-only index keeps its order."""
        try:
            self.db.execute("UPDATE entries SET used_at = ? WHERE key = ?", (time.time(), entry.key))
        except sqlite3.Error:
            pass

    def entries(self) -> list[Entry]:
        rows = self.db.execute(f"SELECT {self.COLUMNS} FROM entries ORDER BY url, method, input").fetchall()
        return [self._entry(row) for row in rows]

    def store(self, req: Request, resp: Response) -> Entry | None:
        """Keep RESP as the answer to REQ unless the server said no-store. Raises CacheError."""
        now = time.time()
        expires = expiry(resp.headers, now)
        key = request_key(req, shared(req, resp.headers))
        try:
            if expires is None:
                self.db.execute("DELETE FROM entries WHERE key IN (?, ?)", (request_key(req),
                                                                         request_key(req, shared=False)))
                return None
            if self.max_bytes is not None and len(resp.body) > self.max_bytes:
                return None
            name = self._write_body(resp.body)
            values = (key, req.method.upper(), req.url, json.dumps(req.input, sort_keys=True),
                      req.kind, resp.url, json.dumps(resp.headers), name, len(resp.body), now, expires, now)
            self.db.execute("BEGIN IMMEDIATE")  # one store and its eviction at a time, across processes
            try:
                self.db.execute(f"INSERT OR REPLACE INTO entries ({self.COLUMNS}, used_at) "
                                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", values)
                evicted = self._evict() if self.max_bytes is not None else []
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self._remove_bodies(evicted)
        except (OSError, sqlite3.Error) as e:
            raise CacheError(f"could not store {req.url} in the cache: {getattr(e, 'strerror', None) or e}") from None
        return self.lookup(req)

    def refresh(self, entry: Entry, not_modified: Response) -> Entry:
        """A 304 answer: the body stands; take the new headers and freshness."""
        headers = {**entry.headers, **{k: v for k, v in not_modified.headers.items()
                                       if k in ("cache-control", "expires", "etag", "last-modified", "date")}}
        expires = expiry(headers, time.time())
        entry.headers, entry.expires_at = headers, expires if expires is not None else time.time()
        try:
            self.db.execute("UPDATE entries SET headers = ?, expires_at = ?, used_at = ? WHERE key = ?",
                            (json.dumps(headers), entry.expires_at, time.time(), entry.key))
        except sqlite3.Error as e:
            raise CacheError(f"could not update the cache index: {e}") from None
        return entry

    def _write_body(self, body: bytes) -> str:
        name = hashlib.sha256(body).hexdigest()
        path = self.bodies / name[:2] / name
        if path.is_file() and path.stat().st_size == len(body):
            return name
        path.parent.mkdir(exist_ok=True)
        tmp = path.with_name(f".{name}.{os.getpid()}.tmp")
        try:
            with open(tmp, "wb") as f:
                f.write(body)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        return name

    def _evict(self) -> list[str]:
        """Drop the least recently used entries until the bodies fit max_bytes; returns their body names."""
        total = self.db.execute("SELECT coalesce(sum(size), 0) FROM entries").fetchone()[0]
        evicted = []
        if total <= self.max_bytes:
            return evicted
        for key, size, body in self.db.execute("SELECT key, size, body FROM entries ORDER BY used_at").fetchall():
            self.db.execute("DELETE FROM entries WHERE key = ?", (key,))
            evicted.append(body)
            total -= size
            if total <= self.max_bytes:
                break
        return evicted

    def _remove_bodies(self, names: list[str]) -> None:
        for name in names:
            if self.db.execute("SELECT 1 FROM entries WHERE body = ? LIMIT 1", (name,)).fetchone() is None:
                (self.bodies / name[:2] / name).unlink(missing_ok=True)

    def prune(self, older_than: float | None = None, max_bytes: int | None = None) -> tuple[int, int]:
        """Drop entries unused for OLDER_THAN seconds, then the least recently used past MAX_BYTES,
        then body files no entry names. Returns (entries removed, files removed)."""
        removed = 0
        if older_than is not None:
            removed += self.db.execute("DELETE FROM entries WHERE used_at < ?", (time.time() - older_than,)).rowcount
        if max_bytes is not None:
            total = 0
            for key, size in self.db.execute("SELECT key, size FROM entries ORDER BY used_at DESC").fetchall():
                total += size
                if total > max_bytes:
                    removed += self.db.execute("DELETE FROM entries WHERE key = ?", (key,)).rowcount
        named = {row[0] for row in self.db.execute("SELECT body FROM entries")}
        files = 0
        for path in self.bodies.glob("*/*"):
            if path.name not in named:
                path.unlink(missing_ok=True)
                files += 1
        return removed, files
