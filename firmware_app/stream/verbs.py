"""<Connect><Stream>, <Start><Stream>, <Stop><Stream> and <Connect><ConversationRelay>.

The nouns as plain data, and how each verb runs on a channel that offers
``port()`` (a stream Port) and ``streams`` (the call's one-way streams by name).

- ``<Connect><Stream>`` is bidirectional and blocks until the server closes;
  then ``<Connect action>`` is requested, if set, else the document goes on.
- ``<Start><Stream>`` forks the call's audio one way and the document goes on
  at once; ``<Stop><Stream name>`` ends it.
- ``<Connect><ConversationRelay>`` runs until the app sends ``end`` or closes;
  ``action`` gets SessionId, SessionStatus, SessionDuration and HandoffData.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from .media import MediaStream, StreamSpec
from .relay import Relay, RelaySpec

@dataclass
class Connect:
    noun: StreamSpec | RelaySpec
    action: str = ""
    method: str = "POST"


@dataclass
class Start:
    stream: StreamSpec


@dataclass
class Stop:
    name: str


async def run_connect(ch, verb: Connect):
    """Run a <Connect>; return the next request (url, method, params) or None to go on."""
    port = await ch.port()
    if isinstance(verb.noun, RelaySpec):
        end = await Relay(port, verb.noun).run()
        params = end.params()
    else:
        spec = verb.noun
        stream = MediaStream(port, StreamSpec(spec.url, spec.name, "inbound_track", True, spec.parameters,
                                              spec.status_callback, spec.status_callback_method))
        result = await stream.run()
        params = {"StreamSid": stream.sid}
        if result.error:
            params.update(ErrorCode=str(result.error_code), ErrorMessage=result.error)
    if verb.action:
        return verb.action, verb.method, params
    return None


async def run_start(ch, verb: Start) -> None:
    """Fork the call's audio to the server in the background; the document goes on."""
    stream = MediaStream(await ch.port(), verb.stream)
    name = verb.stream.name or stream.sid
    if name in ch.streams:
        ch.emit("warning", message=f"<Start><Stream name={name!r}> is already running; not started twice")
        return
    task = asyncio.create_task(stream.run())
    ch.streams[name] = stream
    ch.keep(task)
    task.add_done_callback(lambda _: ch.streams.pop(name, None))


async def run_stop(ch, verb: Stop) -> None:
    stream = ch.streams.get(verb.name)
    if stream is None:
        ch.emit("warning", message=f"<Stop><Stream name={verb.name!r}>: no stream of that name is running")
        return
    stream.stop()
