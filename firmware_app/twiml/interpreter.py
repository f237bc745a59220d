"""Runs TwiML on a call: fetch a document, run its verbs, follow where they lead.

The interpreter does no I/O of its own: it sees the call only as a Channel
(twiml/channel.py), and each verb's ``run`` says what happens next.
"""

from __future__ import annotations

from ..web.client import FetchError
from .channel import Channel
from .parse import TwimlError
from .verbs import CONTINUE, STOP, Follow
from .verbs.say import Say

ERROR_MESSAGE = "We are sorry, an application error has occurred. Goodbye."
SILENT_DOCUMENT_LIMIT = 50


class Interpreter:
    def __init__(self, ch: Channel):
        self.ch = ch

    async def run(self, url: str, method: str = "POST") -> None:
        request: Follow | None = Follow(url, method)
        silent, last_t = 0, self.ch.now
        while request is not None:
            doc = await self._load(request)
            if doc is None:
                return
            for warning in doc.warnings:
                self.ch.emit("warning", message=warning.message)
            request = await self._execute(doc)
            silent = silent + 1 if self.ch.now == last_t else 0
            last_t = self.ch.now
            if silent >= SILENT_DOCUMENT_LIMIT:
                self.ch.emit("error", code=11200, message=f"{silent} documents in a row played nothing; "
                             "stopping what looks like a redirect loop", url=doc.url)
                break
        await self.ch.hangup()

    async def _load(self, request: Follow):
        """The next document. The web stack answers failures itself (fallback_url,
        cache, bundled flows); what still fails here gets the apology."""
        try:
            return await self.ch.fetch_twiml(request.url, request.method, request.params, request.caller_input)
        except (FetchError, TwimlError) as e:
            self.ch.emit("error", code=e.code, message=e.message, url=request.url)
        await Say(ERROR_MESSAGE).run(self.ch)
        await self.ch.hangup()
        return None

    async def _execute(self, doc) -> Follow | None:
        """Run the verbs; return the next request, or None to hang up."""
        for verb in doc.verbs:
            outcome = await verb.run(self.ch)
            if outcome is STOP:
                return None
            if outcome is not CONTINUE:
                return outcome
        return None
