"""The box serves its recordings over HTTP, where Twilio's RecordingUrl points.

The paths mirror Twilio's REST API, so an app that builds URLs from the SIDs
finds them too::

    /2010-04-01/Accounts/{AccountSid}/Recordings/{RecordingSid}        8 kHz WAV (Twilio's default)
    /2010-04-01/Accounts/{AccountSid}/Recordings/{RecordingSid}.wav
    /2010-04-01/Accounts/{AccountSid}/Recordings/{RecordingSid}.mp3    encoded by LAME (lameenc)
    /2010-04-01/Accounts/{AccountSid}/Transcriptions/{TranscriptionSid}[.json|.txt]

With ``http_auth`` set, every request needs HTTP basic auth with the
AccountSid and the auth token, as Twilio's "HTTP Basic Authentication for
media" setting. ``routes()`` is a plain route list, so a larger aiohttp app
(the web console) can mount the same handlers with
``app.add_routes(routes(store, account_sid=...))``.
"""

from __future__ import annotations

import asyncio
import hmac
import time
import wave
from typing import TYPE_CHECKING, Iterator

from .store import SID, RATE, RecordingStore, StoreError

if TYPE_CHECKING:
    from aiohttp import web

API = "/2010-04-01/Accounts/{account}"
MP3_KBPS = 16
MP3_CHUNK = 60 * RATE          # samples encoded at a time: memory stays bounded for the longest recording
MP3_QUALITY = 5                # LAME's default, as sox uses; 2 costs three times the CPU for no audible gain at 8 kHz


def mp3_chunks(path) -> Iterator[bytes]:
    """A WAV file (16-bit mono, 8 kHz) as MP3 (MPEG-2.5 layer III, 16 kbit/s), a minute at a time. Blocking."""
    import lameenc  # with the first MP3 asked for: the idle box has no use for it

    encoder = lameenc.Encoder()
    encoder.set_bit_rate(MP3_KBPS)
    encoder.set_in_sample_rate(RATE)
    encoder.set_channels(1)
    encoder.set_quality(MP3_QUALITY)
    with wave.open(str(path), "rb") as w:
        while chunk := w.readframes(MP3_CHUNK):
            yield bytes(encoder.encode(chunk))
    yield bytes(encoder.flush())


def routes(store: RecordingStore, *, account_sid: str, auth_token: str = "",
           http_auth: bool = False) -> list[web.RouteDef]:
    """The recording and transcription routes, for any aiohttp Application."""
    from aiohttp import BasicAuth, web  # with the server: the simulator starts it with its first <Record>

    def check(request: web.Request) -> None:
        if request.match_info["account"] != account_sid:
            raise web.HTTPNotFound(text="no such account\n")
        if not http_auth:
            return
        try:
            auth = BasicAuth.decode(request.headers.get("Authorization", ""))
        except ValueError:
            auth = None
        if auth is None or not (hmac.compare_digest(auth.login, account_sid)
                                and hmac.compare_digest(auth.password, auth_token)):
            raise web.HTTPUnauthorized(text="authentication required\n",
                                       headers={"WWW-Authenticate": 'Basic realm="ivrbox recordings"'})

    def split(name: str, formats: tuple[str, ...]) -> tuple[str, str]:
        sid, dot, ext = name.partition(".")
        ext = ext if dot else formats[0]
        if ext not in formats:
            raise web.HTTPNotFound(text=f"format {ext!r} not served; use {' or '.join(formats)}\n")
        return sid, ext

    async def recording(request: web.Request) -> web.StreamResponse:
        check(request)
        sid, ext = split(request.match_info["name"], ("wav", "mp3"))
        if not SID.fullmatch(sid) or store.get(sid) is None or not store.path(sid).exists():
            raise web.HTTPNotFound(text="no such recording\n")
        if request.method == "GET":
            try:
                store.mark_heard(sid)
            except StoreError:
                pass
        if ext == "wav":
            return web.FileResponse(store.path(sid), headers={"Content-Type": "audio/x-wav"})
        chunks = mp3_chunks(store.path(sid))
        try:
            first = await asyncio.to_thread(next, chunks)
        except (OSError, wave.Error):
            raise web.HTTPNotFound(text="no such recording\n") from None
        response = web.StreamResponse(headers={"Content-Type": "audio/mpeg"})
        await response.prepare(request)
        while first is not None:
            await response.write(first)
            first = await asyncio.to_thread(next, chunks, None)
        await response.write_eof()
        return response

    async def transcription(request: web.Request) -> web.Response:
        check(request)
        sid, ext = split(request.match_info["name"], ("json", "txt"))
        rec = store.by_transcription(sid) if sid.startswith("TR") else None
        if rec is None:
            raise web.HTTPNotFound(text="no such transcription\n")
        if ext == "txt":
            return web.Response(text=rec.transcription_text or "")
        return web.json_response({
            "sid": sid, "account_sid": account_sid, "recording_sid": rec.sid, "status": rec.transcription_status,
            "transcription_text": rec.transcription_text, "duration": str(round(rec.duration)),
            "date_created": time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(rec.created_at)),
        })

    return [
        web.get(API + "/Recordings/{name}", recording),
        web.get(API + "/Transcriptions/{name}", transcription),
    ]


class RecordingServer:
    """The routes on their own listening socket: the daemon's and the simulator's.

    ``base`` is the public origin the URLs start with: ``public_url`` when
    the app reaches the box by another name, else http://HOST:PORT.
    """

    def __init__(self, store: RecordingStore, *, account_sid: str, auth_token: str = "", http_auth: bool = False,
                 host: str = "127.0.0.1", port: int = 0, public_url: str = ""):
        self.store = store
        self.account_sid = account_sid
        self.host, self.port = host, port
        self.public_url = public_url.rstrip("/")
        self._routes = dict(account_sid=account_sid, auth_token=auth_token, http_auth=http_auth)
        self._runner: web.AppRunner | None = None
        self.base = ""

    @property
    def started(self) -> bool:
        return self._runner is not None

    async def start(self) -> str:
        from aiohttp import web

        app = web.Application()
        app.add_routes(routes(self.store, **self._routes))
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.port = port
        shown = f"[{host}]" if ":" in host else host
        self.base = self.public_url or f"http://{shown}:{port}"
        return self.base

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def recording_url(self, sid: str) -> str:
        return f"{self.base}{API.format(account=self.account_sid)}/Recordings/{sid}"

    def transcription_url(self, sid: str) -> str:
        return f"{self.base}{API.format(account=self.account_sid)}/Transcriptions/{sid}"
