"""<Start><Stream>: fork the call's audio one way to a WebSocket; the document goes on at once.

``track`` picks the caller's audio (inbound_track), the box's (outbound_track)
or both. The stream runs beside the call until <Stop><Stream name>, the
server closing, or the end of the call.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from ..schema import Choice, Url
from .registry import register
from .base import CONTINUE, Verb


@register
@dataclass
class Start(Verb):
    tag = "Start"
    attributes = (Url("action", ""), Choice("method", "POST", choices=("GET", "POST")))
    nests = ("Stream",)

    action: str = ""
    method: str = "POST"
    children: list[Verb] = field(default_factory=list)

    @classmethod
    def build(cls, values, children, warn):
        if len(children) != 1 or not children[0].url:
            warn("<Start> needs exactly one <Stream> with a ws:// or wss:// url; skipped")
            return None
        return cls(**values, children=children)

    async def run(self, ch):
        from ...stream.media import MediaStream

        stream = MediaStream(await ch.port(), self.children[0].spec())
        name = self.children[0].name or stream.sid
        if name in ch.streams:
            ch.emit("warning", message=f"<Start><Stream name={name!r}> is already running; not started twice")
            return CONTINUE
        task = asyncio.create_task(stream.run())
        ch.streams[name] = stream
        ch.keep(task)
        task.add_done_callback(lambda _: ch.streams.pop(name, None))
        return CONTINUE
