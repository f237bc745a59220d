"""<Record>, as Twilio documents it: the caller's message, kept and served by the box.

- a 1 kHz beep first (``playBeep``), then the caller's audio is recorded;
- it ends on a key in ``finishOnKey`` (the key is not in the file, nor any
  other key's tone), after ``timeout`` seconds of silence (voice activity;
  0: never), at ``maxLength`` seconds (0: 24 hours), or when the caller
  hangs up;
- ``trim="trim-silence"`` removes the silence before and after the speech;
- the action request carries RecordingUrl (absolute, served by the box),
  RecordingDuration (whole seconds), RecordingSid and Digits (the key, or
  ``hangup``: the request is still made and what it returns is not run);
- a recording with no speech in it is empty: no action request, the document
  goes on with the next verb;
- ``recordingStatusCallback`` hears the ``recordingStatusCallbackEvent``
  events (in-progress, completed, absent), durably, like ``transcribeCallback``
  (offline transcription for 2-120 s, in the background).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from ...clock import FRAME_SECONDS
from ..channel import RecordingUnavailable
from ..schema import Attr, BadValue, Boolean, Choice, Integer, Number, Url
from .registry import register
from .base import CONTINUE, STOP, Follow, Verb

KEYS = "1234567890*#"                # Twilio's default finishOnKey: any key
EVENTS = ("in-progress", "completed", "absent")
LONGEST = 24 * 3600                 # maxLength="0": as long as a call may last


class FinishKeys(Attr):
    def read(self, raw):
        if set(raw) - set(KEYS):
            raise BadValue("may only hold the keys 0-9, * and #")
        return raw


class Events(Attr):
    def read(self, raw):
        events = tuple(dict.fromkeys(raw.replace(",", " ").split()))
        if not events or set(events) - set(EVENTS):
            raise BadValue("must be in-progress, completed and absent, or some of them, separated by spaces")
        return events


def rfc2822(t: float) -> str:
    return time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(t))


@register
@dataclass
class Record(Verb):
    tag = "Record"
    attributes = (
        Url("action", follow="twiml", method="method", empty_is_document=True),
        Choice("method", "POST", choices=("GET", "POST")),
        Number("timeout", 5.0, minimum=0),
        FinishKeys("finishOnKey", KEYS, "finish_on_key"),
        Integer("maxLength", 3600, "max_length", minimum=0, maximum=LONGEST),
        Boolean("playBeep", True, "play_beep"),
        Choice("trim", "trim-silence", choices=("trim-silence", "do-not-trim")),
        Url("recordingStatusCallback", "", "recording_status_callback"),
        Choice("recordingStatusCallbackMethod", "POST", "recording_status_callback_method", choices=("GET", "POST")),
        Events("recordingStatusCallbackEvent", ("completed",), "recording_status_callback_event"),
        Boolean("transcribe", False),
        Url("transcribeCallback", "", "transcribe_callback"),
    )

    action: str = ""
    method: str = "POST"
    timeout: float = 5.0
    finish_on_key: str = "1234567890*#"
    max_length: int = 3600
    play_beep: bool = True
    trim: str = "trim-silence"
    recording_status_callback: str = ""
    recording_status_callback_method: str = "POST"
    recording_status_callback_event: tuple[str, ...] = ("completed",)
    transcribe: bool = False
    transcribe_callback: str = ""

    async def run(self, ch):
        if self.play_beep:
            await ch.beep()
        try:
            async with ch.record() as rec:
                started = time.time()
                self._status(ch, "in-progress", rec.sid, rec.url, started)
                digits = await self._wait(rec)
                saved = await rec.finish(self.trim == "trim-silence")
                if rec.gone:
                    digits = "hangup"
        except RecordingUnavailable as e:
            ch.emit("error", code=0, message=f"<Record> cannot record: {e}; going on with the next verb")
            return CONTINUE
        if saved is None:
            ch.emit("record", sid="", url="", duration=0, digits=digits, empty=True)
            self._status(ch, "absent", rec.sid, "", started)
            return STOP if digits == "hangup" else CONTINUE
        duration = max(1, round(saved.duration))
        ch.emit("record", sid=saved.sid, url=saved.url, duration=saved.duration, digits=digits, empty=False)
        self._status(ch, "completed", saved.sid, saved.url, started, duration)
        if self.transcribe or self.transcribe_callback:
            ch.transcribe(saved, self.transcribe_callback)
        params = {"RecordingUrl": saved.url, "RecordingDuration": str(duration), "RecordingSid": saved.sid,
                  "Digits": digits}
        if digits != "hangup":
            return Follow(self.action, self.method, params, caller_input=True)
        await ch.after_hangup(self.action, self.method, params)
        return STOP

    async def _wait(self, rec) -> str:
        """Record until a finishing key, the silence timeout, maxLength or the hang-up; the Digits to send."""
        limit = self.max_length or LONGEST
        while True:
            wait = limit - rec.seconds
            if self.timeout:
                wait = min(wait, self.timeout - rec.silence)
            if wait <= 0:
                return ""
            ev = await rec.next(max(wait, FRAME_SECONDS))      # time moves a frame at a time
            if ev is None:
                continue
            if ev.kind == "hangup":
                return "hangup"
            if ev.kind == "digit" and ev.value in self.finish_on_key:
                return ev.value

    def lint(self, context):
        if "action" not in self.given:
            yield "warning", ("<Record> has no action: the recording is posted back to this same document, "
                              "which records again (a loop)")

    def _status(self, ch, status: str, sid: str, url: str, started: float, duration: int = 0) -> None:
        if not self.recording_status_callback or status not in self.recording_status_callback_event:
            return
        params = {"RecordingSid": sid, "RecordingUrl": url, "RecordingStatus": status,
                  "RecordingDuration": str(duration) if status == "completed" else "", "RecordingChannels": "1",
                  "RecordingStartTime": rfc2822(started), "RecordingSource": "RecordVerb", "RecordingTrack": "inbound",
                  "ErrorCode": "0"}
        ch.callback(self.recording_status_callback, self.recording_status_callback_method, params)
