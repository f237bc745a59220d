"""The call history: one SQLite row per call, with its full event timeline, kept ``keep_days``.

    >>> import tempfile, pathlib
    >>> history = History(pathlib.Path(tempfile.mkdtemp()) / "console.sqlite", keep_days=30)
    >>> history.started("CA1", line=1, caller="+15551234", name="")
    >>> history.ended("CA1", outcome="completed", duration=12.5, by="caller", reason="",
    ...               events=[{"t": 0.0, "event": "say", "text": "Hi"}])
    >>> [c["sid"] for c in history.search(number="1234")]
    ['CA1']
    >>> history.get("CA1")["events"][0]["text"]
    'Hi'

A call is written when it starts and again when it ends, so one that is
cut off by a crash still shows, without an outcome.
"""

from __future__ import annotations

import datetime
import json
import sqlite3
import time
from pathlib import Path

from ..events import to_json

SCHEMA = """
CREATE TABLE IF NOT EXISTS calls (
    sid TEXT PRIMARY KEY,
    line INTEGER NOT NULL,
    caller TEXT NOT NULL,
    name TEXT NOT NULL DEFAULT '',
    started_at REAL NOT NULL,
    duration REAL,
    outcome TEXT,
    by TEXT,
    reason TEXT,
    events TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX IF NOT EXISTS calls_started ON calls (started_at);
"""
COLUMNS = ("sid", "line", "caller", "name", "started_at", "duration", "outcome", "by", "reason")
SEARCH_LIMIT = 200


class HistoryError(Exception):
    pass


def history_path(config: dict) -> Path:
    """``[console] db``, else console.sqlite beside the outbox's default place (the state directory)."""
    from ..web.outbox import default_path

    return Path(config["console"]["db"]) if config["console"]["db"] else default_path().with_name("console.sqlite")


class History:
    def __init__(self, path: str | Path, keep_days: float = 30.0):
        self.path = Path(path)
        self.keep = keep_days * 86400.0
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=5)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.executescript(SCHEMA)
        except (OSError, sqlite3.Error) as e:
            raise HistoryError(f"cannot open the call history {self.path}: {e}") from None
        self.expire()

    def close(self) -> None:
        self.db.close()

    def expire(self, now: float | None = None) -> int:
        cutoff = (now or time.time()) - self.keep
        return self.db.execute("DELETE FROM calls WHERE started_at < ?", (cutoff,)).rowcount

    def started(self, sid: str, *, line: int, caller: str, name: str, at: float | None = None) -> None:
        self.db.execute("INSERT OR REPLACE INTO calls (sid, line, caller, name, started_at) VALUES (?, ?, ?, ?, ?)",
                        (sid, line, caller, name, at or time.time()))
        self.expire()

    def ended(self, sid: str, *, outcome: str, duration: float, by: str, reason: str, events: list[dict]) -> None:
        self.db.execute("UPDATE calls SET outcome = ?, duration = ?, by = ?, reason = ?, events = ? WHERE sid = ?",
                        (outcome, duration, by, reason, "[" + ",".join(map(to_json, events)) + "]", sid))

    def search(self, number: str = "", date: str = "", limit: int = SEARCH_LIMIT) -> list[dict]:
        """Newest first; NUMBER matches any part of the caller ID (digits only compared), DATE is YYYY-MM-DD
        in the box's local time. A bad date raises ValueError."""
        where, args = [], []
        digits = "".join(c for c in number if c.isdigit())
        if number and digits:
            where.append("replace(replace(replace(caller, '+', ''), '-', ''), ' ', '') LIKE ?")
            args.append(f"%{digits}%")
        elif number:
            where.append("caller LIKE ?")
            args.append(f"%{number}%")
        if date:
            day = datetime.date.fromisoformat(date)
            start = datetime.datetime.combine(day, datetime.time()).timestamp()
            where.append("started_at >= ? AND started_at < ?")
            args += [start, start + 86400]
        sql = f"SELECT {', '.join(COLUMNS)} FROM calls"
        if where:
            sql += " WHERE " + " AND ".join(where)
        rows = self.db.execute(sql + " ORDER BY started_at DESC LIMIT ?", (*args, limit)).fetchall()
        return [dict(zip(COLUMNS, row)) for row in rows]

    def get(self, sid: str) -> dict | None:
        row = self.db.execute(f"SELECT {', '.join(COLUMNS)}, events FROM calls WHERE sid = ?", (sid,)).fetchone()
        if row is None:
            return None
        call = dict(zip(COLUMNS, row[:-1]))
        call["events"] = json.loads(row[-1])
        return call
