"""Each page's data, as plain dicts: the JSON API returns them and the templates render them.

A ``Box`` is what the console sees of the running daemon: its config, the
shared fetch stack (cache, outbox, breaker), the speech models, the
recordings, the live line and call states and the call history.
"""

from __future__ import annotations

import asyncio
import copy
import time
from dataclasses import dataclass, field

from ..web.breaker import origin
from ..web.client import redact

SECRETS = {("server", "auth_token"), ("mqtt", "password"), ("console", "password_hash")}
HIDDEN = "***"
LINT_SECONDS = 30.0


@dataclass
class Box:
    config: dict
    shared: dict
    live: object
    history: object = None
    tests: dict = field(default_factory=dict)
    warming: dict = field(default_factory=dict)
    server_since: float = field(default_factory=time.time)
    server_was_up: bool = True
    background: set = field(default_factory=set)
    sessions: object = None
    limiter: object = None

    @property
    def fetcher(self):
        return self.shared["fetcher"]

    @property
    def store(self):
        recordings = self.shared.get("recordings")
        return getattr(recordings, "store", None)


def when(t: float | None) -> str:
    """A wall-clock time as the pages show it (local, to the second).

    >>> when(None)
    ''
    """
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t)) if t else ""


def server_state(box: Box) -> dict:
    url = box.config["server"]["url"]
    breaker = box.fetcher.breaker
    opened = breaker.opened.get(origin(url))
    up = opened is None
    if opened is not None:
        since = time.time() - (time.monotonic() - opened[0])
        why = opened[1]
    else:
        since, why = None, ""
    if up != box.server_was_up:
        box.server_was_up, box.server_since = up, time.time()
    return {"url": redact(url), "up": up, "since": since if since is not None else box.server_since,
            "breaker": "open" if not up else "closed", "why": why,
            "open_origins": sorted(breaker.opened)}


def speech(box: Box) -> list[dict]:
    models = box.shared.get("speech_models")
    if models is None:
        return []
    out = []
    for language, path in models.paths.items():
        problem = models.why_missing(language)
        state = "loaded" if not problem else ("loading" if "still loading" in problem else "failed")
        out.append({"language": language, "path": path, "state": state, "problem": problem,
                    "load_seconds": models.load_seconds.get(language)})
    return out


def outbox_counts(box: Box) -> dict:
    outbox = box.fetcher.outbox
    if outbox is None:
        return {"pending": len(box.fetcher.unsaved), "dead": 0, "available": False}
    return {"pending": outbox.count() + len(box.fetcher.unsaved), "dead": len(outbox.dead()), "available": True}


def dashboard(box: Box) -> dict:
    calls = [{**{k: v for k, v in c.items() if k != "events"}, "events": list(c["events"])}
             for c in box.live.calls.values()]
    store = box.store
    voicemail = None
    if store is not None:
        recordings = store.list()
        voicemail = {"total": len(recordings), "new": sum(1 for r in recordings if not r.heard)}
    return {"lines": [{**line, "url": redact(line["url"])} for line in box.live.lines], "calls": calls,
            "server": server_state(box), "outbox": outbox_counts(box), "speech": speech(box),
            "voicemail": voicemail}


def calls(box: Box, number: str = "", date: str = "") -> dict:
    if box.history is None:
        return {"calls": [], "number": number, "date": date, "error": "the call history is not available"}
    try:
        found = box.history.search(number=number, date=date)
    except ValueError:
        return {"calls": [], "number": number, "date": date, "error": f"{date!r} is not a date (YYYY-MM-DD)"}
    return {"calls": found, "number": number, "date": date, "error": ""}


def call(box: Box, sid: str) -> dict | None:
    if sid in box.live.calls:
        live = box.live.calls[sid]
        return {**{k: v for k, v in live.items() if k != "events"}, "events": list(live["events"]),
                "outcome": None, "duration": None, "in_progress": True}
    found = box.history.get(sid) if box.history is not None else None
    return {**found, "in_progress": False} if found else None


def recording(rec) -> dict:
    return {"sid": rec.sid, "call_sid": rec.call_sid, "caller": rec.caller, "called": rec.called,
            "created_at": rec.created_at, "duration": rec.duration, "bytes": rec.bytes, "heard": rec.heard,
            "transcription": rec.transcription_text, "transcription_status": rec.transcription_status}


def voicemail(box: Box) -> dict:
    store = box.store
    if store is None:
        problem = getattr(box.shared.get("recordings"), "problem", "") or "this box does not record voicemail"
        return {"available": False, "problem": problem, "recordings": []}
    return {"available": True, "problem": "", "recordings": [recording(r) for r in store.list()]}


def item(it) -> dict:
    return {"id": it.id, "seq": it.seq, "method": it.method, "url": redact(it.url), "input": it.input,
            "call_sid": it.params.get("CallSid", ""), "created_at": it.created_at, "attempts": it.attempts,
            "last_error": it.last_error, "dead_at": it.dead_at}


def outbox(box: Box) -> dict:
    fetcher = box.fetcher
    held = [{"url": redact(r.url), "input": r.input} for r in fetcher.unsaved]
    if fetcher.outbox is None:
        return {"available": False, "pending": [], "dead": [], "held_in_memory": held}
    return {"available": True, "path": str(fetcher.outbox.path), "pending": [item(i) for i in fetcher.outbox.pending()],
            "dead": [item(i) for i in fetcher.outbox.dead()], "held_in_memory": held}


def cache(box: Box) -> dict:
    store = box.fetcher.cache
    if store is None:
        return {"available": False, "entries": [], "warming": box.warming}
    now = time.time()
    entries = [{"key": e.key, "method": e.method, "url": redact(e.url), "input": e.input, "kind": e.kind,
                "size": e.size, "age": now - e.stored_at, "fresh": e.fresh, "expires_in": e.expires_at - now}
               for e in store.entries()]
    return {"available": True, "root": str(store.root), "entries": entries, "warming": box.warming,
            "bytes": sum(e["size"] for e in entries)}


def bundled_flows() -> list[str]:
    from ..commands.lint import file_url
    from ..web.bundled import flows_dir

    return [file_url(p) for p in sorted(flows_dir().rglob("*.xml"))]


async def flows(box: Box) -> dict:
    """Lint the bundled flows and the configured start document, as `ivrbox lint` does."""
    from ..commands.lint import Linter
    from ..twiml.lint import Context

    context = Context(set(box.config.get("speech.models") or {}))
    server = box.config["server"]["url"]
    out = {"server": redact(server), "flows": bundled_flows(), "groups": []}
    for title, starts in (("bundled flows", out["flows"]), ("the configured server", [server])):
        linter = Linter(box.config, context, 200)
        try:
            findings = await asyncio.wait_for(linter.run(starts), LINT_SECONDS)
            problem = ""
        except asyncio.TimeoutError:
            findings, problem = [], f"gave up after {LINT_SECONDS:.0f} s"
        out["groups"].append({"title": title, "documents": linter.documents, "problem": problem,
                              "findings": [{"file": redact(f), "line": n, "level": level, "message": message}
                                           for f, n, level, message in findings]})
    return out


def config_view(box: Box) -> dict:
    """The effective config, secrets hidden, and what is wrong with the file on disk now, if anything."""
    from ..config import ConfigError, load

    shown = {}
    for section, values in box.config.items():
        if section.startswith("_") or not isinstance(values, dict):
            continue
        shown[section] = {k: hide(section, k, v) for k, v in copy.deepcopy(values).items()}
    try:
        load(box.config.get("_path"))
        problem = ""
    except ConfigError as e:
        problem = str(e)
    return {"path": box.config.get("_path", ""), "config": shown, "problem": problem}


def hide(section: str, key: str, value):
    """
    >>> hide("server", "auth_token", "s3cret"), hide("mqtt", "url", "mqtt://u:pw@h"), hide("line", "url", ["sim:"])
    ('***', 'mqtt://u:***@h', ['sim:'])
    """
    if (section, key) in SECRETS:
        return HIDDEN if value else ""
    if isinstance(value, str) and "://" in value:
        return redact(value)
    if isinstance(value, list):
        return [redact(v) if isinstance(v, str) and "://" in v else v for v in value]
    return value

