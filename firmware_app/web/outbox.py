"""The outbox: action requests the server did not get, kept on disk until it does.

A caller's Digits or SpeechResult must reach the server even if the server
was down when the caller pressed the key. The request goes into an SQLite
database in WAL mode with ``synchronous=FULL``: ``put`` returns only once
the row is on disk, so what it acknowledged survives kill -9 and power loss.

    >>> box = Outbox(tmp_path / "outbox.sqlite")                              # doctest: +SKIP
    >>> item = box.put(Request("POST", "http://h/ivr", {"Digits": "1", "CallSid": "CA1"}))  # doctest: +SKIP
    >>> [p.id for p in box.pending()] == [item.id]                          # doctest: +SKIP
    True

Delivery (``deliver``) sends the oldest first and stops at the first one the
server cannot take, so the server sees them in the order callers made them.
Each carries its request id in Twilio's ``I-Twilio-Idempotency-Token``
header, and ``X-Ivrbox-Replay`` with the time the caller made it: a request
the box sent but whose answer it never saw is sent again with the same id,
so the server keeps exactly one per id.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from .client import FetchError, Request

TOKEN_HEADER = "I-Twilio-Idempotency-Token"
REPLAY_HEADER = "X-Ivrbox-Replay"

SCHEMA = """
CREATE TABLE IF NOT EXISTS requests (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    method TEXT NOT NULL,
    url TEXT NOT NULL,
    params TEXT NOT NULL,
    call_sid TEXT NOT NULL,
    digits TEXT,
    speech_result TEXT,
    created_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_attempt_at REAL,
    last_error TEXT,
    delivered_at REAL,
    status INTEGER
)"""


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

    def request(self) -> Request:
        headers = {TOKEN_HEADER: self.id, REPLAY_HEADER: iso(self.created_at)}
        return Request(self.method, self.url, dict(self.params), kind="callback", headers=headers)


class Outbox:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=10)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")
            self.db.execute(SCHEMA)
        except (OSError, sqlite3.Error) as e:
            raise OutboxError(f"cannot open the outbox {self.path}: {e}") from None

    def close(self) -> None:
        self.db.close()

    def put(self, req: Request, request_id: str | None = None, created_at: float | None = None) -> Item:
        """Store REQ durably; returns once it is on disk. Raises OutboxError."""
        item = Item(0, request_id or req.headers.get(TOKEN_HEADER) or uuid.uuid4().hex, req.method, req.url,
                    dict(req.params), created_at or time.time())
        p = req.params
        try:
            cur = self.db.execute(
                "INSERT OR IGNORE INTO requests (id, method, url, params, call_sid, digits, speech_result, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (item.id, item.method, item.url, json.dumps(item.params), p.get("CallSid", ""), p.get("Digits"),
                 p.get("SpeechResult"), item.created_at))
        except sqlite3.Error as e:
            raise OutboxError(f"could not store the request for {req.url} in {self.path}: {e}") from None
        item.seq = cur.lastrowid if cur.rowcount else self.get(item.id).seq
        return item

    def _items(self, where: str, args=()) -> list[Item]:
        rows = self.db.execute("SELECT seq, id, method, url, params, created_at, attempts, last_error, delivered_at,"
                               f" status FROM requests {where}", args).fetchall()
        return [Item(s, i, m, u, json.loads(p), c, a, e, d, st) for s, i, m, u, p, c, a, e, d, st in rows]

    def get(self, request_id: str) -> Item | None:
        found = self._items("WHERE id = ?", (request_id,))
        return found[0] if found else None

    def pending(self, limit: int = -1) -> list[Item]:
        return self._items("WHERE delivered_at IS NULL ORDER BY seq LIMIT ?", (limit,))

    def delivered(self, limit: int = 20) -> list[Item]:
        return self._items("WHERE delivered_at IS NOT NULL ORDER BY seq DESC LIMIT ?", (limit,))

    def count(self) -> int:
        return self.db.execute("SELECT count(*) FROM requests WHERE delivered_at IS NULL").fetchone()[0]

    def mark_delivered(self, item: Item, status: int) -> None:
        self.db.execute("UPDATE requests SET delivered_at = ?, status = ?, attempts = attempts + 1,"
                        " last_attempt_at = ? WHERE seq = ?", (time.time(), status, time.time(), item.seq))

    def mark_failed(self, item: Item, error: str) -> None:
        self.db.execute("UPDATE requests SET attempts = attempts + 1, last_attempt_at = ?, last_error = ?"
                        " WHERE seq = ?", (time.time(), error, item.seq))

    async def deliver(self, web) -> tuple[int, str | None]:
        """Send pending requests in order through WEB; stop at the first the server cannot take.

        A 4xx answer counts as delivered (the server got it and said no;
        sending it again would say no again) and is kept with its status.
        Returns (how many were delivered, why it stopped or None).
        """
        sent = 0
        while True:
            batch = self.pending(limit=50)
            if not batch:
                return sent, None
            for item in batch:
                try:
                    resp = await web.fetch(item.request())
                    status = resp.status
                except FetchError as e:
                    if e.unreachable or e.code in (11206, 11220):  # no answer: the server may not have it
                        self.mark_failed(item, e.message)
                        return sent, e.message
                    status = e.status or e.code
                self.mark_delivered(item, status)
                sent += 1
