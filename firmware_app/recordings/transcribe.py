"""Offline transcription of recordings, in the background, for transcribeCallback.

Twilio transcribes recordings of 2 to 120 seconds; so does the box, with the
configured speech engine, one recording at a time in one worker thread of low
priority, so a call in progress never waits for it. The result goes to the
app through the durable ``deliver`` (the outbox), so a server that is down
gets it when it is back: ``Transcriber(store, models, deliver, language=...)``,
then ``submit(job)`` per recording and ``await drain()`` at shutdown.
"""

from __future__ import annotations

import asyncio
import wave
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..listen.engine import lower_priority
from ..web.client import Request
from .store import RecordingStore, StoreError, new_sid

MIN_SECONDS = 2.0
MAX_SECONDS = 120.0
CHUNK_BYTES = 16000         # half a second of audio per call into the engine
NICE = 15                   # below the call's speech recognizers (5, 10)


@dataclass
class Job:
    """One transcription: which recording, where the result goes, and the call's parameters."""

    recording_sid: str
    recording_url: str
    duration: float
    callback: str               # "" keeps the text with the recording only; Twilio always POSTs it
    params: dict[str, str] = field(default_factory=dict)
    report: Callable[[dict], None] | None = None      # told the result (the call's transcription event)


def transcribe_file(model, path: Path) -> str:
    """The words in a WAV file, by the engine's open recogniser. Blocking."""
    stream = None
    words = []
    with wave.open(str(path), "rb") as w:
        stream = model.open_stream(w.getframerate())
        while True:
            chunk = w.readframes(CHUNK_BYTES // 2)
            if not chunk:
                break
            if stream.accept(chunk):
                words += stream.take()
    words += stream.finish()
    return " ".join(w.text for w in words if not w.unknown and not is_marker(w.text))


def is_marker(token: str) -> bool:
    """A model's non-word token, such as Vosk Korean's ``[2]`` for a noise: not text for a reader.

    >>> is_marker("[4]"), is_marker("네")
    (True, False)
    """
    return token.startswith("[") and token.endswith("]")


class Transcriber:
    def __init__(self, store: RecordingStore, models, deliver, *, language: str = "", transcription_url=None,
                 warn=None):
        self.store = store
        self.models = models
        self.deliver = deliver                  # async (Request) -> None, durable
        self.language = language or (next(iter(models.paths), "") if models is not None else "")
        self.transcription_url = transcription_url or (lambda sid: "")
        self.warn = warn or (lambda message: None)
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="transcribe", initializer=lower_priority, initargs=(NICE,))
        self._tasks: set[asyncio.Task] = set()
        self.done: list[dict] = []              # the last results, for the bench and the simulator's events

    def submit(self, job: Job) -> None:
        """Start transcribing in the background; returns at once."""
        task = asyncio.get_running_loop().create_task(self._run(job))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Wait for every submitted transcription to be transcribed and handed to the outbox."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def _run(self, job: Job) -> None:
        sid = new_sid("TR")
        text, status = "", "failed"
        if not MIN_SECONDS <= job.duration <= MAX_SECONDS:
            self.warn(f"recording {job.recording_sid} lasts {job.duration:.1f} s; transcription takes "
                      f"{MIN_SECONDS:g} to {MAX_SECONDS:g} s, so it is reported as failed")
        else:
            model = self.models.get(self.language) if self.models is not None and self.language else None
            if model is None:
                why = (self.models.why_missing(self.language) if self.models is not None and self.language
                       else "no speech model is configured ([speech.models])")
                self.warn(f"cannot transcribe recording {job.recording_sid}: {why}")
            else:
                try:
                    path = self.store.path(job.recording_sid)
                    loop = asyncio.get_running_loop()
                    text = await loop.run_in_executor(self._executor, transcribe_file, model, path)
                    status = "completed"
                except Exception as e:      # noqa: BLE001 - any engine failure is a failed transcription
                    self.warn(f"transcription of {job.recording_sid} failed: {type(e).__name__}: {e}")
        try:
            await asyncio.to_thread(self.store.set_transcription, job.recording_sid, sid, status, text)
        except StoreError as e:
            self.warn(str(e))
        params = {**job.params, "TranscriptionSid": sid, "TranscriptionText": text,
                  "TranscriptionStatus": status, "TranscriptionUrl": self.transcription_url(sid),
                  "RecordingSid": job.recording_sid,
                  "RecordingUrl": job.recording_url}
        result = {"sid": sid, "recording_sid": job.recording_sid, "status": status, "text": text}
        self.done.append(result)
        del self.done[:-20]
        if job.report is not None:
            job.report(dict(result))
        if job.callback:
            await self.deliver(Request("POST", job.callback, params, kind="callback", input={"TranscriptionText": text}))
