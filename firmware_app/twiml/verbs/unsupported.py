"""Verbs a box on a phone line cannot perform: one warning naming the verb, and the document goes on.

They need Twilio's cloud (queues, payments, SIP, messaging). Each is
registered so that a document using one runs on, with a warning when it
runs and a lint finding, instead of a parse warning per attribute.

    >>> import asyncio
    >>> from firmware_app.twiml.parse import parse
    >>> doc = parse('<Response><Pay input="dtmf" maxAttempts="2"/><Say>Hi</Say></Response>', "http://x/ivr")
    >>> [v.tag for v in doc.verbs], doc.warnings
    (['Pay', 'Say'], [])
    >>> class Channel:
    ...     def emit(self, event, **fields): print(event, fields["message"])
    >>> asyncio.run(doc.verbs[0].run(Channel()))
    warning <Pay> cannot run on this box: it takes payments through Twilio's payment connectors; skipped
    CONTINUE
"""

from __future__ import annotations

from dataclasses import dataclass

from .base import CONTINUE, Verb
from .registry import register


@dataclass
class Unsupported(Verb):
    markup = True  # its children are not read: nothing in it runs

    def message(self) -> str:
        return f"<{self.tag}> cannot run on this box: {self.unsupported}; skipped"

    async def run(self, ch):
        ch.emit("warning", message=self.message())
        return CONTINUE

    def lint(self, context):
        yield "warning", self.message()


def _unsupported(tag: str, why: str, top_level: bool = True) -> type[Verb]:
    cls = type(tag, (Unsupported,), {"tag": tag, "unsupported": why, "top_level": top_level,
                                     "__module__": __name__, "__doc__": f"<{tag}>: {why}."})
    return register(dataclass(cls))


Enqueue = _unsupported("Enqueue", "it puts the caller in a Twilio queue")
Leave = _unsupported("Leave", "it takes the caller out of a Twilio queue")
Pay = _unsupported("Pay", "it takes payments through Twilio's payment connectors")
Refer = _unsupported("Refer", "it transfers a SIP call with SIP REFER")
Sms = _unsupported("Sms", "it sends a text message, and a phone line has no messaging")
