"""<Start><Stream>: fork the call's audio one way to a WebSocket; the document goes on at once.

``track`` picks the caller's audio (inbound_track), the box's (outbound_track)
or both. The stream runs beside the call until <Stop><Stream name>, the
server closing, or the end of the call.

The nouns a box cannot start (<Transcription>, <Siprec>: start_unsupported.py)
each warn once, naming themselves, and the document goes on.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from ..schema import Choice, Url
from .registry import register
from .base import CONTINUE, Verb
from .unsupported import Unsupported


@register
@dataclass
class Start(Verb):
    tag = "Start"
    attributes = (Url("action", ""), Choice("method", "POST", choices=("GET", "POST")))
    nests = ("Stream", "Transcription", "Siprec")

    action: str = ""
    method: str = "POST"
    children: list[Verb] = field(default_factory=list)

    @classmethod
    def build(cls, values, children, warn):
        streams = [c for c in children if not isinstance(c, Unsupported)]
        if streams and (len(streams) != 1 or not streams[0].url) or not children:
            warn("<Start> needs exactly one <Stream> with a ws:// or wss:// url; skipped")
            return None
        return cls(**values, children=children)

    async def run(self, ch):
        for child in self.children:
            if isinstance(child, Unsupported):
                await child.run(ch)
            else:
                await self._stream(ch, child)
        return CONTINUE

    async def _stream(self, ch, child) -> None:
        from ...stream.media import MediaStream

        stream = MediaStream(await ch.port(), child.spec())
        name = child.name or stream.sid
        if name in ch.streams:
            ch.emit("warning", message=f"<Start><Stream name={name!r}> is already running; not started twice")
            return
        task = asyncio.create_task(stream.run())
        ch.streams[name] = stream
        ch.keep(task)
        task.add_done_callback(lambda _: ch.streams.pop(name, None))
