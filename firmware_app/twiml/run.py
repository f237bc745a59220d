"""Runs TwiML on a call: fetch a document, execute its verbs, follow where they lead.

The interpreter does no I/O of its own. It talks to a Channel (the call):

    emit(event, **fields)        now (call seconds)
    fetch_twiml(url, method, params) -> Document    raises FetchError or TwimlError
    say(Say)  play(Play)  pause(seconds)            cancel to stop
    listen(Gather) -> async context of a Listener
    partial_result(Gather, text, stability)
    hangup()  reject(reason)
    port() -> stream Port     streams (one-way streams by name)     keep(task)
"""

from __future__ import annotations

from ..stream.verbs import Connect, Start, Stop, run_connect, run_start, run_stop
from ..web.client import FetchError
from .gather import play_media, run_gather
from .parse import TwimlError
from .verbs import Gather, Hangup, Pause, Play, Redirect, Reject, Say

ERROR_MESSAGE = "We are sorry, an application error has occurred. Goodbye."
SILENT_DOCUMENT_LIMIT = 50


class Interpreter:
    def __init__(self, ch):
        self.ch = ch

    async def run(self, url: str, method: str = "POST") -> None:
        request = (url, method, {})
        silent, last_t = 0, self.ch.now
        while request is not None:
            doc = await self._load(*request)
            if doc is None:
                return
            for warning in doc.warnings:
                self.ch.emit("warning", message=warning)
            request = await self._execute(doc)
            silent = silent + 1 if self.ch.now == last_t else 0
            last_t = self.ch.now
            if silent >= SILENT_DOCUMENT_LIMIT:
                self.ch.emit("error", code=11200, message=f"{silent} documents in a row played nothing; "
                             "stopping what looks like a redirect loop", url=doc.url)
                break
        await self.ch.hangup()

    async def _load(self, url: str, method: str, params: dict[str, str]):
        """The next document. The web stack answers failures itself (fallback_url,
        cache, bundled flows); what still fails here gets the apology."""
        try:
            return await self.ch.fetch_twiml(url, method, params)
        except (FetchError, TwimlError) as e:
            self.ch.emit("error", code=e.code, message=e.message, url=url)
        await self.ch.say(Say(ERROR_MESSAGE))
        await self.ch.hangup()
        return None

    async def _execute(self, doc):
        """Run the verbs; return the next request (url, method, params), or None to hang up."""
        for verb in doc.verbs:
            if isinstance(verb, (Say, Play, Pause)):
                await play_media(self.ch, verb)
            elif isinstance(verb, Gather):
                params = await run_gather(self.ch, verb)
                if params is not None:
                    return verb.action, verb.method, params
            elif isinstance(verb, Redirect):
                return verb.url, verb.method, {}
            elif isinstance(verb, Hangup):
                return None
            elif isinstance(verb, Connect):
                request = await run_connect(self.ch, verb)
                if request is not None:
                    return request
            elif isinstance(verb, Start):
                await run_start(self.ch, verb)
            elif isinstance(verb, Stop):
                await run_stop(self.ch, verb)
            elif isinstance(verb, Reject):
                await self.ch.reject(verb.reason)
                return None
        return None
