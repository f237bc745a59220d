"""Voicemail: what <Record> needs beyond the call, shared by all the box's calls.

``Recordings`` bundles the store (WAV files and SQLite under the state
directory), the HTTP server that makes RecordingUrl work, and the background
transcriber. The daemon and ``ivrbox simulate`` start one with
``Recordings(config, fetcher, speech_models)`` and ``await start()`` (the
simulator with its first ``<Record>``);
``url(sid)`` is a recording's RecordingUrl
(``http://127.0.0.1:PORT/2010-04-01/Accounts/AC…/Recordings/RE…``), and
``await stop()`` waits for the transcriptions in progress.
"""

from __future__ import annotations

import asyncio

from .server import RecordingServer
from .store import SID, Recording, RecordingStore, StoreError, open_store, recordings_dir
from .transcribe import Job, Transcriber


async def deliver_durably(fetcher, request, warn=lambda message: None) -> None:
    """Hand REQUEST to the web stack's outbox and start delivery: it reaches the server once it is up."""
    outbox = getattr(fetcher, "outbox", None)
    if outbox is not None:
        try:
            await asyncio.to_thread(outbox.put, request)
            await fetcher.flush(request.url)
            return
        except Exception as e:          # noqa: BLE001 - the outbox's own errors; fall back to one try
            warn(f"could not queue the callback to {request.url}: {e}; trying it once")
    try:
        await fetcher.fetch(request)
    except Exception as e:              # noqa: BLE001 - FetchError and friends: reported, not raised
        warn(f"callback to {request.url} failed and could not be kept for later: {e}")


class Recordings:
    def __init__(self, config: dict, fetcher, speech_models=None, warn=None):
        self.config = config
        self.fetcher = fetcher
        self.warnings: list[str] = []
        self.warn = warn or self.warnings.append
        r, server = config["recordings"], config["server"]
        self.problem = ""
        self._tasks: set[asyncio.Task] = set()
        try:
            self.store = open_store(config)
        except StoreError as e:
            self.problem, self.store = str(e), None
        self.server = RecordingServer(self.store, account_sid=server["account_sid"], auth_token=server["auth_token"],
                                      http_auth=r["http_auth"], host=r["listen"], port=r["port"],
                                      public_url=r["public_url"])
        self.transcriber = Transcriber(self.store, speech_models, self._deliver,
                                       language=r["transcribe_language"],
                                       transcription_url=self.server.transcription_url, warn=self._warn)

    def _warn(self, message: str) -> None:
        self.warn(message)

    async def _deliver(self, request) -> None:
        await deliver_durably(self.fetcher, request, self._warn)

    async def start(self) -> str:
        """Start serving (once); a port that cannot be had makes recording unavailable,
        with the reason. The daemon starts at once, the simulator with the first <Record>."""
        if self.problem:
            return ""
        if self.server.started:
            return self.server.base
        try:
            return await self.server.start()
        except OSError as e:
            self.problem = f"the recordings server cannot listen on {self.server.host}:{self.server.port}: {e}"
            return ""

    def send(self, request) -> None:
        """Deliver a callback durably, in the background, outliving the call that made it."""
        task = asyncio.get_running_loop().create_task(self._deliver(request))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def stop(self) -> None:
        """Wait for the transcriptions and callbacks in progress, then stop serving."""
        await self.transcriber.drain()
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        self.transcriber.close()
        await self.server.stop()
        if self.store is not None:
            self.store.close()

    def url(self, sid: str) -> str:
        return self.server.recording_url(sid)

    def own_sid(self, url: str) -> str | None:
        """The SID when URL is one of this box's RecordingUrls (plain, .wav or .mp3) of a kept recording."""
        prefix = self.server.recording_url("")
        if not self.server.base or not url.startswith(prefix):
            return None
        sid = url[len(prefix):].split("?")[0].removesuffix(".wav").removesuffix(".mp3")
        return sid if SID.fullmatch(sid) and self.store.get(sid) is not None else None


__all__ = ["Job", "Recording", "RecordingServer", "RecordingStore", "Recordings", "StoreError", "Transcriber",
           "deliver_durably", "open_store", "recordings_dir"]
