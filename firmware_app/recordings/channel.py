"""<Record>'s part of a call's channel: the beep, the recorder, the callbacks.

The Call delegates to one CallRecorder. While recording, the session is the
frame pump's listener (frames with the DTMF detector's verdict, and keys),
and the caller's hang-up goes to it: the message is kept and the action
request still made, instead of the call cutting the verb off: the verb runs
``async with recorder.record() as session`` and reads ``session.next(timeout)``.
"""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager

from ..twiml.channel import RecordingUnavailable, Saved
from ..twiml.parse import TwimlError
from ..web.client import FetchError, Request
from .transcribe import Job


class CallRecorder:
    def __init__(self, call, recordings):
        self.call = call
        self.recordings = recordings
        self.session: RecordSession | None = None

    def take_hangup(self) -> bool:
        """The caller hung up: True when a recording in progress takes it and finishes the verb."""
        if self.session is None:
            return False
        self.session.hung_up()
        return True

    # The channel

    async def beep(self) -> None:
        from .take import BEEP_HZ, BEEP_SECONDS, beep  # numpy and the VAD, with the first recording

        self.call.emit("beep", hz=BEEP_HZ, seconds=BEEP_SECONDS)
        await self.call._answer()
        await self.call.pump.player.play(beep())

    @asynccontextmanager
    async def record(self):
        from .session import RecordSession

        call = self.call
        if self.recordings is not None:
            await self.recordings.start()
        if self.recordings is None or self.recordings.problem:
            raise RecordingUnavailable(self.recordings.problem if self.recordings else "no recordings store was set up")
        await call._answer()
        speech = call.config["speech"]
        params = call.params()
        session = RecordSession(self.recordings, call.clock, call_sid=call.sid, caller=params["From"],
                                called=params["To"], aggressiveness=speech["vad_aggressiveness"],
                                hangover_ms=speech["vad_hangover_ms"])
        self.session = call.pump.listener = session      # the pump feeds it frames and keys
        call.emit("_listen", input=["record"], language="en-US")
        try:
            yield session
        finally:
            self.session = call.pump.listener = None
            session.discard()

    def callback(self, url: str, method: str, params: dict[str, str]) -> None:
        call = self.call
        full = {"AccountSid": call.config["server"]["account_sid"], "CallSid": call.sid, **params}
        call.emit("request", method=method, url=url, params=full)
        self.recordings.send(Request(method, url, full, kind="callback"))

    def transcribe(self, saved: Saved, callback: str) -> None:
        call = self.call
        job = Job(saved.sid, saved.url, saved.duration, callback, call.params(),
                  report=lambda result: call.emit("transcription", **result))
        self.recordings.transcriber.submit(job)

    async def own_audio(self, url: str) -> bytes | None:
        """The WAV behind one of this box's RecordingUrls (any extension), read from the disk;
        None for any other URL. Played this way, a caller's message is never fetched over HTTP
        (which protected media would refuse) nor copied into the web cache."""
        sid = self.recordings.own_sid(url) if self.recordings is not None and not self.recordings.problem else None
        if sid is None:
            return None
        try:
            return await asyncio.to_thread(self.recordings.store.path(sid).read_bytes)
        except OSError:
            return None

    async def after_hangup(self, url: str, method: str, params: dict[str, str]) -> None:
        try:
            await self.call.fetch_twiml(url, method, params, caller_input=True)
        except (FetchError, TwimlError) as e:
            self.call.emit("warning", message=f"<Record> action after the hang-up: {e.message}")
