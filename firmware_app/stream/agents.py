"""Local voice agents on aiohttp's server, for tests, the bench and trying the box out.

``AgentServer`` runs one aiohttp application in a thread: an echo agent
(Media Streams) at ``/media``, a text agent (ConversationRelay) at
``/relay``, and TwiML routes, recording every request and message. What
the agents do is set by the TwiML's ``<Parameter>`` children.

    >>> import urllib.request
    >>> with AgentServer({"/ivr": '<Response><Connect><Stream url="{ws}/media"/></Connect></Response>'}) as s:
    ...     page = urllib.request.urlopen(s.url("/ivr")).read().decode()
    ...     page == f'<Response><Connect><Stream url="{s.ws}/media"/></Connect></Response>'
    True

Echo agent parameters: ``echo`` (send each caller frame back), ``mark_every``
(a mark after every N echoed frames), ``tone_ms`` (send that much 440 Hz
tone, then the mark ``tone``), ``clear_after_ms`` (then clear), ``close_after_ms``,
``drop_after_ms`` (vanish without a close frame), ``garbage`` (send bad frames first).

Text agent: answers each prompt with ``You said <prompt>.`` a word at a time,
every ``token_ms`` (``reply`` replaces the text; ``long`` makes the first answer
long, to talk over; an interrupt stops the answer being written), answers
a key with ``You pressed <key>.`` (or, with ``on_<key>`` set to ``play:PATH``,
``digits:KEYS``, ``language:TAG`` or ``long:FLAG=true,...``, sends that message,
or the long answer with those text flags), ends on ``end_digit``
with handoffData, and vanishes after ``drop_after_ms``. A route whose value is
bytes is served as audio/wav.
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
from dataclasses import dataclass, field

import numpy as np
from aiohttp import WSMsgType, web

from ..web.signature import sign
from . import mulaw

AUTH_TOKEN = "agent-secret"
LONG_REPLY = ("Let me tell you about our opening hours, which change with the seasons, so please listen "
              "carefully to every part of this long answer before you decide anything at all.")


@dataclass
class Seen:
    """What one agent connection saw: its messages with arrival times, and whether it was signed right."""

    path: str
    signed: bool
    messages: list = field(default_factory=list)        # (perf_counter, message)
    sent: list = field(default_factory=list)            # (perf_counter, message)
    closed: str = ""

    def of(self, kind: str) -> list[dict]:
        return [m for _, m in self.messages if m.get("event", m.get("type")) == kind]


@dataclass
class HttpRequest:
    method: str
    path: str
    params: dict[str, str]


def tone(ms: int, hz: float = 440.0) -> bytes:
    t = np.arange(ms * 8) / 8000
    return (np.sin(2 * np.pi * hz * t) * 8000).astype("<i2").tobytes()


class AgentServer:
    def __init__(self, routes: dict | None = None, auth_token: str = AUTH_TOKEN):
        self.routes = dict(routes or {})
        self.auth_token = auth_token
        self.connections: list[Seen] = []
        self.requests: list[HttpRequest] = []
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self.hooks: list = []                 # callables(seen, message) run on each message, for the bench

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def __enter__(self) -> "AgentServer":
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _serve(self) -> None:
        self._loop = asyncio.new_event_loop()
        app = web.Application()
        app.router.add_get("/media", self._media)
        app.router.add_get("/relay", self._relay)
        app.router.add_route("*", "/{path:.*}", self._twiml)
        self._runner = web.AppRunner(app)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        self._loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    async def _twiml(self, request: web.Request) -> web.Response:
        params = dict(request.query) if request.method == "GET" else dict(await request.post())
        self.requests.append(HttpRequest(request.method, request.path, params))
        route = self.routes.get(request.path)
        if route is None:
            return web.Response(status=404, text="not found")
        body = route(params) if callable(route) else route
        if isinstance(body, bytes):
            return web.Response(body=body, content_type="audio/wav")
        return web.Response(text=body.replace("{ws}", self.ws), content_type="text/xml")

    async def _accept(self, request: web.Request) -> tuple[web.WebSocketResponse, Seen]:
        url = f"{self.ws}{request.path_qs}"
        seen = Seen(request.path, request.headers.get("X-Twilio-Signature") == sign(self.auth_token, url, {}))
        self.connections.append(seen)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        return ws, seen

    async def _send(self, ws, seen: Seen, message: dict) -> None:
        seen.sent.append((time.perf_counter(), message))
        await ws.send_str(json.dumps(message))

    async def _messages(self, ws, seen: Seen):
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                break
            message = json.loads(msg.data)
            seen.messages.append((time.perf_counter(), message))
            for hook in self.hooks:
                hook(seen, message)
            yield message
        seen.closed = seen.closed or "box"

    async def _media(self, request: web.Request):
        ws, seen = await self._accept(request)
        sid, params, tasks, echoed = "", {}, [], 0
        async for message in self._messages(ws, seen):
            event = message.get("event")
            if event == "start":
                sid, params = message["streamSid"], message["start"]["customParameters"]
                tasks.append(asyncio.create_task(self._script(ws, seen, sid, params)))
            elif event == "media" and params.get("echo") == "true":
                await self._send(ws, seen, {"event": "media", "streamSid": sid,
                                            "media": {"payload": message["media"]["payload"]}})
                echoed += 1
                every = int(params.get("mark_every", 0))
                if every and echoed % every == 0:
                    await self._send(ws, seen, {"event": "mark", "streamSid": sid, "mark": {"name": f"echo-{echoed}"}})
        for task in tasks:
            task.cancel()
        return ws

    async def _script(self, ws, seen: Seen, sid: str, params: dict) -> None:
        began = time.perf_counter()

        async def until(ms: str) -> None:
            await asyncio.sleep(max(0.0, began + int(ms) / 1000 - time.perf_counter()))

        if params.get("garbage") == "true":
            await ws.send_bytes(b"\x00\x01binary")
            await ws.send_str("{not json")
            await ws.send_str(json.dumps({"event": "dance", "streamSid": sid}))
            await ws.send_str(json.dumps({"event": "media", "streamSid": sid, "media": {"payload": "!!"}}))
            await ws.send_str(json.dumps(["a", "list"]))
        if "tone_ms" in params:
            payload = base64.b64encode(mulaw.encode(tone(int(params["tone_ms"])))).decode()
            await self._send(ws, seen, {"event": "media", "streamSid": sid, "media": {"payload": payload}})
            await self._send(ws, seen, {"event": "mark", "streamSid": sid, "mark": {"name": "tone"}})
        if "clear_after_ms" in params:
            await until(params["clear_after_ms"])
            await self._send(ws, seen, {"event": "clear", "streamSid": sid})
        if "close_after_ms" in params:
            await until(params["close_after_ms"])
            seen.closed = "agent"
            await ws.close()
        if "drop_after_ms" in params:
            await until(params["drop_after_ms"])
            seen.closed = "dropped"
            ws._writer.transport.abort()          # no close frame: the connection just vanishes

    async def _relay(self, request: web.Request):
        ws, seen = await self._accept(request)
        params: dict = {}
        replies: list[asyncio.Task] = []

        async def say(text: str, **flags) -> None:
            words = text.split(" ")
            for i, word in enumerate(words):
                last = i == len(words) - 1
                await self._send(ws, seen, {"type": "text", "token": word + ("" if last else " "), "last": last,
                                            **flags})
                await asyncio.sleep(int(params.get("token_ms", 30)) / 1000)

        async for message in self._messages(ws, seen):
            kind = message.get("type")
            if kind == "setup":
                params = message["customParameters"]
                if "drop_after_ms" in params:
                    await asyncio.sleep(int(params["drop_after_ms"]) / 1000)
                    seen.closed = "dropped"
                    ws._writer.transport.abort()
            elif kind == "prompt":
                text = LONG_REPLY if params.get("long") == "true" and len(seen.of("prompt")) == 1 else \
                    params.get("reply", "You said {}.").format(message["voicePrompt"])
                replies.append(asyncio.create_task(say(text)))
            elif kind == "interrupt":
                for task in replies:
                    task.cancel()           # the caller spoke over it: stop writing it
            elif kind == "dtmf":
                action = params.get("on_" + message["digit"], "")
                verb, _, argument = action.partition(":")
                if verb == "long":
                    flags = {k: v == "true" for k, v in (f.split("=") for f in argument.split(",") if f)}
                    replies.append(asyncio.create_task(say(LONG_REPLY, **flags)))
                elif verb == "play":
                    await self._send(ws, seen, {"type": "play", "source": self.url(argument), "loop": 2})
                elif verb == "digits":
                    await self._send(ws, seen, {"type": "sendDigits", "digits": argument})
                elif verb == "language":
                    await self._send(ws, seen, {"type": "language", "ttsLanguage": argument,
                                                "transcriptionLanguage": argument})
                if action:
                    continue
                if message["digit"] == params.get("end_digit"):
                    heard = [m["voicePrompt"] for m in seen.of("prompt")]
                    await self._send(ws, seen, {"type": "text", "token": "Goodbye.", "last": True})
                    await self._send(ws, seen, {"type": "end", "handoffData": json.dumps(
                        {"reason": "caller pressed " + message["digit"], "prompts": heard})})
                else:
                    replies.append(asyncio.create_task(say(f"You pressed {message['digit']}.")))
        for task in replies:
            task.cancel()
        return ws
