"""<Redirect>: fetch the next document from the URL in its text."""

from __future__ import annotations

from dataclasses import dataclass

from ..schema import Choice, Url
from .registry import register
from .base import Follow, Verb


@register
@dataclass
class Redirect(Verb):
    tag = "Redirect"
    attributes = (Choice("method", "POST", choices=("GET", "POST")),)
    body = Url("url", follow="twiml", method="method", empty_is_document=True)
    final = True

    url: str = ""
    method: str = "POST"

    async def run(self, ch):
        return Follow(self.url, self.method)
