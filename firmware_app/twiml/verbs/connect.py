"""<Connect>: a bidirectional <Stream> or a <ConversationRelay>, until it ends.

It blocks: the next verb runs when the server closes the socket (or the app
sends ``end``). ``action``, if set, is then requested and the document goes
on from its answer: with StreamSid (and ErrorCode, ErrorMessage when the
server dropped) after a stream, with SessionId, SessionStatus,
SessionDuration and HandoffData after a relay.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..schema import Choice, Url
from .registry import register
from .base import CONTINUE, Follow, Verb
from .conversation_relay import ConversationRelay
from .stream import Stream


@register
@dataclass
class Connect(Verb):
    tag = "Connect"
    attributes = (Url("action", "", follow="twiml", method="method"),
                  Choice("method", "POST", choices=("GET", "POST")))
    nests = ("Stream", "ConversationRelay")

    action: str = ""
    method: str = "POST"
    children: list[Verb] = field(default_factory=list)

    @classmethod
    def build(cls, values, children, warn):
        if len(children) != 1:
            warn(f"<Connect> needs exactly one <Stream> or <ConversationRelay>, found {len(children)}; skipped")
            return None
        if isinstance(children[0], Stream) and not children[0].url:
            warn("<Connect><Stream> needs a ws:// or wss:// url; skipped")
            return None
        return cls(**values, children=children)

    async def run(self, ch):
        from ...stream.media import MediaStream
        from ...stream.relay import Relay

        port = await ch.port()
        noun = self.children[0]
        if isinstance(noun, ConversationRelay):
            params = (await Relay(port, noun.spec()).run()).params()
        else:
            stream = MediaStream(port, noun.spec(bidirectional=True))
            end = await stream.run()
            params = {"StreamSid": stream.sid}
            if end.error:
                params.update(ErrorCode=str(end.error_code), ErrorMessage=end.error)
        return Follow(self.action, self.method, params) if self.action else CONTINUE
