"""Recordings on disk: 8 kHz 16-bit mono WAV files, their metadata in SQLite.

    >>> import tempfile
    >>> store = RecordingStore(tempfile.mkdtemp(), max_mb=1.0, max_days=30.0)
    >>> rec = store.save(b"\\0\\0" * 8000, call_sid="CA" + "0" * 32, caller="+15550100")
    >>> rec.sid.startswith("RE"), len(rec.sid), rec.duration
    (True, 34, 1.0)
    >>> store.path(rec.sid).name == rec.sid + ".wav"
    True
    >>> [r.sid for r in store.list()] == [rec.sid]
    True

Retention (``max_mb`` in all, ``max_days`` each) is enforced after every
save, oldest first; the recording just saved is always kept, so a caller's
message outlives the retention pass that its own arrival triggers.
A store opened with ``readonly=True`` never writes (for ``ivrbox recordings
list`` on a read-only mount).
"""

from __future__ import annotations

import os
import re
import secrets
import sqlite3
import time
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from drivers.constants import RATE

SID = re.compile(r"RE[0-9a-f]{32}")

SCHEMA = """
CREATE TABLE IF NOT EXISTS recordings (
    sid TEXT PRIMARY KEY,
    call_sid TEXT NOT NULL,
    caller TEXT NOT NULL,
    called TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL,
    duration REAL NOT NULL,
    bytes INTEGER NOT NULL,
    transcription_sid TEXT,
    transcription_status TEXT,
    transcription_text TEXT,
    heard INTEGER NOT NULL DEFAULT 0
)"""
COLUMNS = ("sid, call_sid, caller, called, created_at, duration, bytes, transcription_sid, transcription_status,"
           " transcription_text, heard")


class StoreError(Exception):
    """The recordings folder or database cannot be used; the message says which and why."""


@dataclass
class Recording:
    sid: str
    call_sid: str
    caller: str
    called: str
    created_at: float
    duration: float
    bytes: int
    transcription_sid: str | None = None
    transcription_status: str | None = None
    transcription_text: str | None = None
    heard: bool = False


def new_sid(prefix: str) -> str:
    """A Twilio-style SID: the two-letter prefix and 32 hex digits."""
    return prefix + secrets.token_hex(16)


def default_dir() -> Path:
    """$STATE_DIRECTORY/recordings under systemd, else $XDG_STATE_HOME/ivrbox/recordings, else ~/.local/state/."""
    if os.environ.get("STATE_DIRECTORY"):
        return Path(os.environ["STATE_DIRECTORY"].split(":")[0]) / "recordings"
    base = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
    return Path(base) / "ivrbox" / "recordings"


def recordings_dir(config: dict) -> Path:
    return Path(config["recordings"]["dir"]) if config["recordings"]["dir"] else default_dir()


def open_store(config: dict, readonly: bool = False) -> "RecordingStore":
    r = config["recordings"]
    return RecordingStore(recordings_dir(config), max_mb=r["max_mb"], max_days=r["max_days"], readonly=readonly)


class RecordingStore:
    def __init__(self, directory: str | Path, *, max_mb: float = 512.0, max_days: float = 90.0,
                 readonly: bool = False):
        self.dir = Path(directory)
        self.max_bytes = int(max_mb * 1024 * 1024)
        self.max_age = max_days * 86400.0
        self.readonly = readonly
        db = self.dir / "recordings.sqlite"
        try:
            if readonly:
                if not db.exists():
                    raise StoreError(f"no recordings yet in {self.dir}")
                self.db = _open_readonly(db)
            else:
                self.dir.mkdir(parents=True, exist_ok=True)
                self.db = sqlite3.connect(db, isolation_level=None, check_same_thread=False, timeout=10)
                self.db.execute(SCHEMA)
        except (OSError, sqlite3.Error) as e:
            raise StoreError(f"cannot open the recordings in {self.dir}: {e}") from None

    def close(self) -> None:
        self.db.close()

    def path(self, sid: str, ext: str = "wav") -> Path:
        """The file for SID. Raises KeyError for anything that is not a recording SID (no path tricks)."""
        if not SID.fullmatch(sid):
            raise KeyError(sid)
        return self.dir / f"{sid}.{ext}"

    def save(self, pcm: bytes | Iterable[bytes], *, call_sid: str, caller: str, called: str = "",
             sid: str | None = None, created_at: float | None = None) -> Recording:
        """Write PCM (16-bit, 8 kHz, mono; bytes or chunks of them) as SID.wav and index it; then apply retention."""
        self._writable()
        sid = sid or new_sid("RE")
        path = self.path(sid)
        tmp = path.with_suffix(".part")
        try:
            with wave.open(str(tmp), "wb") as w:
                w.setnchannels(1)
                w.setsampwidth(2)
                w.setframerate(RATE)
                for chunk in [pcm] if isinstance(pcm, (bytes, bytearray)) else pcm:
                    w.writeframes(chunk)
                samples = w.getnframes()
            os.replace(tmp, path)
            rec = Recording(sid, call_sid, caller, called, created_at or time.time(), samples / RATE,
                            path.stat().st_size)
            self.db.execute(f"INSERT INTO recordings ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, NULL, NULL, NULL, 0)",
                            (rec.sid, rec.call_sid, rec.caller, rec.called, rec.created_at, rec.duration, rec.bytes))
        except (OSError, sqlite3.Error, wave.Error) as e:
            tmp.unlink(missing_ok=True)
            raise StoreError(f"could not store recording {sid} in {self.dir}: {e}") from None
        self.enforce(keep=sid)
        return rec

    def get(self, sid: str) -> Recording | None:
        found = self._rows("WHERE sid = ?", (sid,))
        return found[0] if found else None

    def list(self, limit: int = -1) -> list[Recording]:
        """Newest first."""
        return self._rows("ORDER BY created_at DESC LIMIT ?", (limit,))

    def by_transcription(self, transcription_sid: str) -> Recording | None:
        found = self._rows("WHERE transcription_sid = ?", (transcription_sid,))
        return found[0] if found else None

    def total_bytes(self) -> int:
        return self.db.execute("SELECT coalesce(sum(bytes), 0) FROM recordings").fetchone()[0]

    def delete(self, sid: str) -> bool:
        """Remove SID's file and row; False if there is no such recording."""
        self._writable()
        if self.get(sid) is None:
            return False
        try:
            self.path(sid).unlink(missing_ok=True)
            self.db.execute("DELETE FROM recordings WHERE sid = ?", (sid,))
        except (OSError, sqlite3.Error) as e:
            raise StoreError(f"could not delete {sid}: {e}") from None
        return True

    def set_transcription(self, sid: str, transcription_sid: str, status: str, text: str) -> None:
        self._update("transcription_sid = ?, transcription_status = ?, transcription_text = ?",
                     (transcription_sid, status, text, sid))

    def mark_heard(self, sid: str) -> None:
        if not self.readonly:
            self._update("heard = 1", (sid,))

    def enforce(self, keep: str = "", now: float | None = None) -> list[str]:
        """Delete recordings older than max_days, then the oldest while over max_mb. Returns the SIDs deleted."""
        cutoff = (now or time.time()) - self.max_age
        gone = [r.sid for r in self._rows("WHERE created_at < ? AND sid != ?", (cutoff, keep))]
        total = self.total_bytes() - sum(r.bytes for r in map(self.get, gone) if r)
        for rec in self._rows("WHERE created_at >= ? AND sid != ? ORDER BY created_at", (cutoff, keep)):
            if total <= self.max_bytes:
                break
            gone.append(rec.sid)
            total -= rec.bytes
        for sid in gone:
            self.delete(sid)
        return gone

    def _update(self, assignments: str, args: tuple) -> None:
        self._writable()
        try:
            self.db.execute(f"UPDATE recordings SET {assignments} WHERE sid = ?", args)
        except sqlite3.Error as e:
            raise StoreError(f"could not update recording {args[-1]}: {e}") from None

    def _rows(self, where: str, args: tuple = ()) -> list[Recording]:
        try:
            rows = self.db.execute(f"SELECT {COLUMNS} FROM recordings {where}", args).fetchall()
        except sqlite3.Error as e:
            raise StoreError(f"cannot read the recordings in {self.dir}: {e}") from None
        return [Recording(*row[:10], heard=bool(row[10])) for row in rows]

    def _writable(self) -> None:
        if self.readonly:
            raise StoreError(f"the recordings in {self.dir} are open read-only")


def _open_readonly(db: Path) -> sqlite3.Connection:
    """Read-only, even on a read-only mount where SQLite cannot create the WAL index."""
    try:
        conn = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True, check_same_thread=False)
        conn.execute("SELECT count(*) FROM recordings").fetchone()
        return conn
    except sqlite3.OperationalError:
        conn = sqlite3.connect(f"{db.as_uri()}?immutable=1", uri=True, check_same_thread=False)
        conn.execute("SELECT count(*) FROM recordings").fetchone()
        return conn
