"""<Play>: play an audio file fetched over HTTP, and/or send DTMF ``digits``."""

from __future__ import annotations

from dataclasses import dataclass

from ..schema import Attr, Integer, Url
from .registry import register
from .base import CONTINUE, Verb, repeat

DIGITS = set("0123456789*#ABCDw")


@register
@dataclass
class Play(Verb):
    tag = "Play"
    attributes = (Integer("loop", 1, minimum=0), Attr("digits", ""))
    body = Url("url", follow="audio")

    url: str = ""
    loop: int = 1
    digits: str = ""

    @classmethod
    def build(cls, values, children, warn):
        digits = values["digits"]
        bad = set(digits) - DIGITS
        if bad:
            warn(f"<Play digits={digits!r}> has characters Twilio does not send: {''.join(sorted(bad))}; dropped")
            digits = "".join(c for c in digits if c not in bad)
        if not values["url"] and not digits:
            warn("<Play> has neither a URL nor digits; skipped")
            return None
        return cls(**{**values, "digits": digits})

    async def run(self, ch):
        await repeat(ch, self.loop, lambda: ch.play(self.url, self.digits))
        return CONTINUE
