"""<Start>: begin something that runs alongside the call, then go on at once.

Its nouns are registered by their own modules (Transcription and Siprec in
start_unsupported.py); each runs in turn, and the document goes on.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..schema import Choice, Url
from .base import CONTINUE, Verb
from .registry import register


@register
@dataclass
class Start(Verb):
    tag = "Start"
    attributes = (Url("action", "", empty_is_document=True), Choice("method", "POST", choices=("GET", "POST")))
    nests = ("Transcription", "Siprec")

    action: str = ""
    method: str = "POST"
    children: list[Verb] = field(default_factory=list)

    async def run(self, ch):
        for child in self.children:
            await child.run(ch)
        return CONTINUE
