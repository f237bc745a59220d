"""<Say>: speak text (espeak-ng). ``loop="0"`` repeats it (up to 1000 times)."""

from __future__ import annotations

from dataclasses import dataclass

from ..schema import Attr, Integer
from .registry import register
from .base import CONTINUE, Verb

MAX_TEXT = 4096
FOREVER = 1000


@register
@dataclass
class Say(Verb):
    tag = "Say"
    attributes = (Attr("voice", "man"), Attr("language", "en-US"), Integer("loop", 1, minimum=0))
    body = Attr("text")

    text: str = ""
    voice: str = "man"
    language: str = "en-US"
    loop: int = 1

    @classmethod
    def build(cls, values, children, warn):
        return cls(**{**values, "text": values["text"].strip()})

    async def run(self, ch):
        for _ in range(self.loop or FOREVER):
            await ch.say(self.text, self.voice, self.language)
        return CONTINUE

    def lint(self, context):
        if len(self.text) > MAX_TEXT:
            yield "error", f"<Say> text is {len(self.text)} characters, over Twilio's {MAX_TEXT}"
