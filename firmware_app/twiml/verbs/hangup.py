"""<Hangup>: end the call."""

from __future__ import annotations

from dataclasses import dataclass

from .registry import register
from .base import STOP, Verb


@register
@dataclass
class Hangup(Verb):
    tag = "Hangup"
    final = True

    async def run(self, ch):
        return STOP
