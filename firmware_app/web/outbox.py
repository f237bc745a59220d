"""The outbox: action requests the server did not get, kept on disk until it does.

A caller's input must reach the server even if the server was down when
the caller pressed the key. The request goes into an SQLite database in WAL
mode with ``synchronous=FULL``: ``put`` returns only once the row is on
disk, so what it acknowledged survives kill -9 and power loss.

    >>> import tempfile
    >>> from pathlib import Path
    >>> folder = tempfile.TemporaryDirectory()
    >>> box = Outbox(Path(folder.name) / "outbox.sqlite")
    >>> item = box.put(Request("POST", "http://h/ivr", {"Digits": "1"}, input={"Digits": "1"}))
    >>> [p.id for p in box.pending()] == [item.id], box.origins()
    (True, ['http://h:80'])
    >>> box.close(); folder.cleanup()

Order is kept per origin (scheme, host, port): input for one origin waits
only behind older input for the same origin, so a dead server never holds
up a live one. ``deliver`` takes a lease on an origin in SQLite before it
sends anything, so two flushers (the daemon and ``ivrbox outbox flush``)
never deliver the same item twice; a lease whose process died is taken over.
A failed origin backs off (doubling, up to ``retry_max``); an item that
failed ``max_attempts`` times or is older than ``max_age`` seconds moves to
the dead-letter list: kept, listed, blocking nothing, until ``retry`` or ``drop``.

Each delivery carries the item's id in Twilio's ``I-Twilio-Idempotency-Token``
header and ``X-Ivrbox-Replay`` with the time the caller made it: a request
the box sent but whose answer it never saw is sent again with the same id.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from .breaker import origin
from .client import FetchError, Request

TOKEN_HEADER = "I-Twilio-Idempotency-Token"
REPLAY_HEADER = "X-Ivrbox-Replay"
LEASE_SECONDS = 60.0

SCHEMA = """
CREATE TABLE IF NOT EXISTS requests (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    method TEXT NOT NULL,
    url TEXT NOT NULL,
    params TEXT NOT NULL,
    call_sid TEXT NOT NULL,
    created_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_attempt_at REAL,
    last_error TEXT,
    delivered_at REAL,
    status INTEGER
);
CREATE TABLE IF NOT EXISTS origins (
    origin TEXT PRIMARY KEY,
    failures INTEGER NOT NULL DEFAULT 0,
    retry_at REAL NOT NULL DEFAULT 0,
    lease_owner TEXT,
    lease_pid INTEGER,
    lease_until REAL
);
"""
# Columns added since the first release; an older outbox gains them on open.
ADDED = {"origin": "TEXT", "input": "TEXT", "dead_at": "REAL"}
ITEM_COLUMNS = "seq, id, method, url, params, created_at, attempts, last_error, delivered_at, status, input, dead_at"


class OutboxError(Exception):
    """The outbox could not write its database (a full disk, a read-only mount)."""


def default_path() -> Path:
    """$STATE_DIRECTORY/outbox.sqlite under systemd, else $XDG_STATE_HOME/ivrbox/, else ~/.local/state/ivrbox/."""
    if os.environ.get("STATE_DIRECTORY"):
        return Path(os.environ["STATE_DIRECTORY"].split(":")[0]) / "outbox.sqlite"
    base = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
    return Path(base) / "ivrbox" / "outbox.sqlite"


def outbox_path(config: dict) -> Path:
    return Path(config["outbox"]["path"]) if config["outbox"]["path"] else default_path()


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class Item:
    seq: int
    id: str
    method: str
    url: str
    params: dict[str, str]
    created_at: float
    attempts: int = 0
    last_error: str | None = None
    delivered_at: float | None = None
    status: int | None = None
    input: dict[str, str] = field(default_factory=dict)
    dead_at: float | None = None

    def request(self) -> Request:
        headers = {TOKEN_HEADER: self.id, REPLAY_HEADER: iso(self.created_at)}
        return Request(self.method, self.url, dict(self.params), kind="callback", headers=headers,
                       input=dict(self.input))


class Outbox:
    def __init__(self, path: str | Path, *, max_attempts: int = 1000, max_age: float = 7 * 86400,
                 retry_base: float = 1.0, retry_max: float = 600.0, read_only: bool = False):
        self.path = Path(path)
        self.max_attempts, self.max_age = max_attempts, max_age
        self.retry_base, self.retry_max = retry_base, retry_max
        self.owner = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.read_only = read_only
        try:
            if read_only:
                self.db = self._open_read_only()
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=10)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")
            with self._transaction():  # one sync to disk for the whole set-up, not one per statement
                for statement in filter(str.strip, SCHEMA.split(";")):
                    self.db.execute(statement)
                self._migrate()
        except (OSError, sqlite3.Error) as e:
            raise OutboxError(f"cannot open the outbox {self.path}: {e}") from None

    def _open_read_only(self) -> sqlite3.Connection:
        if not self.path.is_file():
            raise OutboxError(f"no outbox at {self.path}")
        # mode=ro needs to write the WAL index; on a read-only mount only immutable=1 can read.
        for mode in ("mode=ro", "immutable=1"):
            try:
                db = sqlite3.connect(f"file:{self.path}?{mode}", uri=True, isolation_level=None,
                                     check_same_thread=False)
                db.execute("SELECT count(*) FROM requests").fetchone()
                return db
            except sqlite3.Error as e:
                problem = e
        raise OutboxError(f"cannot read the outbox {self.path}: {problem}")

    def _migrate(self) -> None:
        have = {row[1] for row in self.db.execute("PRAGMA table_info(requests)")}
        for name, kind in ADDED.items():
            if name not in have:
                self.db.execute(f"ALTER TABLE requests ADD COLUMN {name} {kind}")
        for seq, url in self.db.execute("SELECT seq, url FROM requests WHERE origin IS NULL").fetchall():
            self.db.execute("UPDATE requests SET origin = ? WHERE seq = ?", (origin(url), seq))
        self.db.execute("CREATE INDEX IF NOT EXISTS pending_by_origin ON requests (origin, seq)"
                        " WHERE delivered_at IS NULL AND dead_at IS NULL")

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def _transaction(self):
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def put(self, req: Request, request_id: str | None = None, created_at: float | None = None) -> Item:
        """Store REQ durably; returns once it is on disk. Raises OutboxError."""
        item = Item(0, request_id or req.headers.get(TOKEN_HEADER) or uuid.uuid4().hex, req.method, req.url,
                    dict(req.params), created_at or time.time(), input=dict(req.input))
        try:
            cur = self.db.execute(
                "INSERT OR IGNORE INTO requests (id, method, url, params, call_sid, created_at, origin, input)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (item.id, item.method, item.url, json.dumps(item.params), req.params.get("CallSid", ""),
                 item.created_at, origin(req.url), json.dumps(item.input)))
        except sqlite3.Error as e:
            raise OutboxError(f"could not store the request for {req.url} in {self.path}: {e}") from None
        item.seq = cur.lastrowid if cur.rowcount else self.get(item.id).seq
        return item

    def _items(self, where: str, args=()) -> list[Item]:
        rows = self.db.execute(f"SELECT {ITEM_COLUMNS} FROM requests {where}", args).fetchall()
        return [Item(s, i, m, u, json.loads(p), c, a, e, d, st, json.loads(inp or "{}"), dead)
                for s, i, m, u, p, c, a, e, d, st, inp, dead in rows]

    def get(self, request_id: str) -> Item | None:
        found = self._items("WHERE id = ?", (request_id,))
        return found[0] if found else None

    def pending(self, limit: int = -1, for_origin: str | None = None) -> list[Item]:
        if for_origin is not None:
            return self._items("WHERE delivered_at IS NULL AND dead_at IS NULL AND origin = ? ORDER BY seq LIMIT ?",
                               (origin(for_origin), limit))
        return self._items("WHERE delivered_at IS NULL AND dead_at IS NULL ORDER BY seq LIMIT ?", (limit,))

    def dead(self) -> list[Item]:
        return self._items("WHERE delivered_at IS NULL AND dead_at IS NOT NULL ORDER BY seq")

    def delivered(self, limit: int = 20) -> list[Item]:
        return self._items("WHERE delivered_at IS NOT NULL ORDER BY seq DESC LIMIT ?", (limit,))

    def count(self, for_origin: str | None = None) -> int:
        if for_origin is not None:
            return self.db.execute("SELECT count(*) FROM requests WHERE delivered_at IS NULL AND dead_at IS NULL"
                                   " AND origin = ?", (origin(for_origin),)).fetchone()[0]
        return self.db.execute("SELECT count(*) FROM requests WHERE delivered_at IS NULL AND dead_at IS NULL"
                               ).fetchone()[0]

    def origins(self, due_only: bool = False) -> list[str]:
        """Origins with pending items, oldest item first; DUE_ONLY leaves out those backing off."""
        rows = self.db.execute(
            "SELECT r.origin FROM requests r LEFT JOIN origins o ON o.origin = r.origin"
            " WHERE r.delivered_at IS NULL AND r.dead_at IS NULL AND (? = 0 OR coalesce(o.retry_at, 0) <= ?)"
            " GROUP BY r.origin ORDER BY min(r.seq)", (int(due_only), time.time())).fetchall()
        return [row[0] for row in rows]

    # Leases: one flusher per origin at a time, across processes

    def claim(self, key: str) -> bool:
        now = time.time()
        with self._transaction():
            row = self.db.execute("SELECT lease_owner, lease_pid, lease_until FROM origins WHERE origin = ?",
                                  (key,)).fetchone()
            if row and row[0] and row[0] != self.owner and row[2] > now and alive(row[1]):
                return False
            self.db.execute("INSERT INTO origins (origin, lease_owner, lease_pid, lease_until) VALUES (?, ?, ?, ?)"
                            " ON CONFLICT (origin) DO UPDATE SET lease_owner = excluded.lease_owner,"
                            " lease_pid = excluded.lease_pid, lease_until = excluded.lease_until",
                            (key, self.owner, os.getpid(), now + LEASE_SECONDS))
        return True

    def release(self, key: str) -> None:
        self.db.execute("UPDATE origins SET lease_owner = NULL, lease_until = 0 WHERE origin = ? AND lease_owner = ?",
                        (key, self.owner))

    def _backoff(self, key: str, failed: bool) -> None:
        if not failed:
            self.db.execute("UPDATE origins SET failures = 0, retry_at = 0 WHERE origin = ?", (key,))
            return
        failures = (self.db.execute("SELECT failures FROM origins WHERE origin = ?", (key,)).fetchone() or (0,))[0]
        wait = min(self.retry_max, self.retry_base * 2 ** min(failures, 30))
        self.db.execute("UPDATE origins SET failures = failures + 1, retry_at = ? WHERE origin = ?",
                        (time.time() + wait, key))

    def mark_delivered(self, item: Item, status: int) -> None:
        self.db.execute("UPDATE requests SET delivered_at = ?, status = ?, attempts = attempts + 1,"
                        " last_attempt_at = ? WHERE seq = ?", (time.time(), status, time.time(), item.seq))

    def mark_failed(self, item: Item, error: str) -> None:
        """One more failed attempt; past the limits the item moves to the dead-letter list."""
        now = time.time()
        dead = item.attempts + 1 >= self.max_attempts or now - item.created_at >= self.max_age
        self.db.execute("UPDATE requests SET attempts = attempts + 1, last_attempt_at = ?, last_error = ?,"
                        " dead_at = ? WHERE seq = ?", (now, error, now if dead else None, item.seq))

    def retry(self, request_id: str | None = None) -> int:
        """Move a dead letter (or, with no id, every one) back to pending, its tries reset."""
        where, args = ("AND id = ?", (request_id,)) if request_id else ("", ())
        with self._transaction():
            n = self.db.execute("UPDATE requests SET dead_at = NULL, attempts = 0 WHERE delivered_at IS NULL"
                                f" AND dead_at IS NOT NULL {where}", args).rowcount
            self.db.execute("UPDATE origins SET failures = 0, retry_at = 0")
        return n

    def drop(self, request_id: str) -> Item | None:
        """Forget an undelivered item for good. Returns it, or None if there is no such undelivered item."""
        item = self.get(request_id)
        if item is None or item.delivered_at is not None:
            return None
        self.db.execute("DELETE FROM requests WHERE id = ? AND delivered_at IS NULL", (request_id,))
        return item

    async def deliver(self, web, only: str | None = None, due_only: bool = False) -> tuple[int, str | None]:
        """Send pending requests through WEB, in order within each origin; an origin that
        cannot take one is left for later and the others go on.

        An HTTP answer other than 502/503/504 counts as delivered (the server got it;
        sending it again would get the same answer) and is kept with its status.
        Returns (how many were delivered, why some are still pending or None).
        """
        sent, why = 0, None
        keys = [origin(only)] if only else self.origins(due_only)
        for key in keys:
            n, problem = await self._deliver_origin(web, key)
            sent += n
            why = why or problem
        return sent, why

    async def _deliver_origin(self, web, key: str) -> tuple[int, str | None]:
        if not self.claim(key):
            return 0, f"{key} is being delivered by another process"
        sent, renewed = 0, time.monotonic()
        try:
            while True:
                batch = self.pending(limit=50, for_origin=key)
                if not batch:
                    self._backoff(key, failed=False)
                    return sent, None
                for item in batch:
                    try:
                        resp = await web.fetch(item.request())
                        status = resp.status
                    except FetchError as e:
                        if e.undelivered or e.down:
                            self.mark_failed(item, e.message)
                            self._backoff(key, failed=True)
                            return sent, e.message
                        status = e.status or e.code
                    self.mark_delivered(item, status)
                    sent += 1
                    if time.monotonic() - renewed > LEASE_SECONDS / 4:
                        self.claim(key)  # renew the lease
                        renewed = time.monotonic()
        finally:
            self.release(key)
