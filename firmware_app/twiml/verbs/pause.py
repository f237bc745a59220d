"""<Pause>: silence for ``length`` seconds."""

from __future__ import annotations

from dataclasses import dataclass

from ..schema import Number
from .registry import register
from .base import CONTINUE, Verb


@register
@dataclass
class Pause(Verb):
    tag = "Pause"
    attributes = (Number("length", 1.0, minimum=0),)

    length: float = 1.0

    async def run(self, ch):
        await ch.pause(self.length)
        return CONTINUE
