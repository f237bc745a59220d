"""<Reject>: refuse the call, as busy or unanswered (``reason``)."""

from __future__ import annotations

from dataclasses import dataclass

from ..schema import Choice
from .registry import register
from .base import STOP, Verb


@register
@dataclass
class Reject(Verb):
    tag = "Reject"
    attributes = (Choice("reason", "rejected", choices=("rejected", "busy")),)
    final = True

    reason: str = "rejected"

    async def run(self, ch):
        await ch.reject(self.reason)
        return STOP
