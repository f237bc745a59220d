"""Call events: one dict per thing that happens, stamped with call time.

The simulator prints them as JSON lines; the daemon logs them as one
readable line each for journald; the simulated caller watches them.

    >>> seen = []
    >>> events = Events(lambda: 1.5, [seen.append])
    >>> events.emit("say", text="Hello", voice="man", language="en-US")
    >>> seen[0]["t"], seen[0]["event"]
    (1.5, 'say')

Events whose name starts with ``_`` are internal: sinks see them, the
printers skip them.
"""

from __future__ import annotations

import json
import logging
import math
from typing import Callable, TextIO

log = logging.getLogger("ivrbox.call")

# The events that show a call was answered: the box speaks, plays or listens.
ANSWERED = {"say", "play", "pause", "_listen", "gather", "record", "recording"}


class Events:
    def __init__(self, now: Callable[[], float], sinks: list[Callable[[dict], None]] | None = None):
        self.now = now
        self.sinks = list(sinks or [])

    def emit(self, event: str, **fields) -> None:
        record = {"t": self.now(), "event": event, **fields}
        for sink in self.sinks:
            sink(record)


def json_printer(stream: TextIO) -> Callable[[dict], None]:
    def sink(record: dict) -> None:
        if not record["event"].startswith("_"):
            stream.write(to_json(record) + "\n")
            stream.flush()
    return sink


def to_json(record: dict) -> str:
    """Strict JSON: a value that is not a finite number becomes its name as a string.

    >>> to_json({"event": "pause", "seconds": float("nan")})
    '{"event": "pause", "seconds": "nan"}'
    """
    try:
        return json.dumps(record, ensure_ascii=False, allow_nan=False)
    except ValueError:
        return json.dumps(_finite(record), ensure_ascii=False, allow_nan=False)


def _finite(value):
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


STANDARD_PARAMS = {"CallSid", "AccountSid", "From", "To", "Caller", "Called", "CallStatus", "Direction", "ApiVersion"}


def log_line(record: dict) -> str:
    """One operator-readable line: ``CA1234… 12.34s gather input=dtmf digits=12``.

    A request shows only what the caller added to Twilio's standard parameters.
    """
    if "params" in record:
        record = {**record, "params": {k: v for k, v in record["params"].items() if k not in STANDARD_PARAMS}}
    fields = " ".join(f"{k}={v!r}" if isinstance(v, str) and " " in v else f"{k}={v}"
                      for k, v in record.items() if k not in ("t", "event", "call") and v not in (None, "", {}))
    return f"{record.get('call', '-')} {record['t']:7.2f}s {record['event']} {fields}".rstrip()


def logger(call_sid: str) -> Callable[[dict], None]:
    def sink(record: dict) -> None:
        if not record["event"].startswith("_"):
            level = logging.WARNING if record["event"] in ("error", "warning") else logging.INFO
            log.log(level, log_line({"call": call_sid[:10], **record}))
    return sink


def outcome(hangup: dict | None, failed: bool = False) -> str:
    """How a call ended, from its ``hangup`` event: completed, busy, no-answer or failed.

    >>> outcome({"event": "hangup", "by": "caller"}), outcome({"reason": "busy"}), outcome(None)
    ('completed', 'busy', 'failed')
    """
    reason = (hangup or {}).get("reason", "")
    if failed or not hangup or reason == "line failure":
        return "failed"
    if reason == "busy":
        return "busy"
    return "no-answer" if reason else "completed"
