"""<Stop><Stream name>: end a stream <Start> began; the document goes on."""

from __future__ import annotations

from dataclasses import dataclass, field

from .registry import register
from .base import CONTINUE, Verb


@register
@dataclass
class Stop(Verb):
    tag = "Stop"
    nests = ("Stream",)

    children: list[Verb] = field(default_factory=list)

    @classmethod
    def build(cls, values, children, warn):
        if len(children) != 1 or not children[0].name:
            warn("<Stop> needs exactly one <Stream name=...>; skipped")
            return None
        return cls(children=children)

    async def run(self, ch):
        name = self.children[0].name
        stream = ch.streams.get(name)
        if stream is None:
            ch.emit("warning", message=f"<Stop><Stream name={name!r}>: no stream of that name is running")
        else:
            stream.stop()
        return CONTINUE
