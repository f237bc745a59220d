"""<Stream> and its <Parameter> children: the nouns of <Connect>, <Start> and <Stop>.

``url`` must be ``ws://`` or ``wss://`` (a box on a LAN talks to local
agents over plain ws). A <Stream> inside <Stop> needs only its ``name``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..schema import Attr, BadValue, Choice, Url
from .registry import register
from .base import Verb

MAX_PARAMETERS = 100


class WsUrl(Attr):
    def read(self, raw):
        url = raw.strip()
        if not url.startswith(("ws://", "wss://")):
            raise BadValue("must be a ws:// or wss:// URL")
        return url


@register
@dataclass
class Parameter(Verb):
    tag = "Parameter"
    attributes = (Attr("name"), Attr("value"))
    top_level = False

    name: str = ""
    value: str = ""

    @classmethod
    def build(cls, values, children, warn):
        if not values["name"]:
            warn("<Parameter> has no name; ignored")
            return None
        return cls(**values)


def parameters(children: list[Verb], warn) -> dict[str, str]:
    params = {c.name: c.value for c in children if isinstance(c, Parameter)}
    if len(params) > MAX_PARAMETERS:
        warn(f"{len(params)} <Parameter>s; only the first {MAX_PARAMETERS} are sent")
        params = dict(list(params.items())[:MAX_PARAMETERS])
    return params


@register
@dataclass
class Stream(Verb):
    tag = "Stream"
    attributes = (
        WsUrl("url", ""), Attr("name", ""),
        Choice("track", "inbound_track", choices=("inbound_track", "outbound_track", "both_tracks")),
        Url("statusCallback", "", "status_callback"),
        Choice("statusCallbackMethod", "POST", "status_callback_method", choices=("GET", "POST")),
    )
    nests = ("Parameter",)
    top_level = False

    url: str = ""
    name: str = ""
    track: str = "inbound_track"
    status_callback: str = ""
    status_callback_method: str = "POST"
    parameters: dict[str, str] = field(default_factory=dict)

    @classmethod
    def build(cls, values, children, warn):
        return cls(**values, parameters=parameters(children, warn))

    def spec(self, bidirectional: bool = False):
        from ...stream.media import StreamSpec

        return StreamSpec(self.url, self.name, "inbound_track" if bidirectional else self.track, bidirectional,
                          dict(self.parameters), self.status_callback, self.status_callback_method)
