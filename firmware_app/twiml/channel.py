"""The channel: all a verb or the interpreter sees of a call.

The call (firmware_app/call.py) implements it over a line; tests implement
it over a bare clock. Times are call seconds, counted in audio frames.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from .parse import Document


@dataclass
class Input:
    """One piece of caller input while listening."""

    kind: str  # digit | speech_start | speech_end | partial | endpoint
    value: str = ""
    stability: float = 0.0
    ago: float = 0.0  # how long before it was reported it happened (voice activity's hangover)


@dataclass(frozen=True)
class Speech:
    """What a speech recognizer is asked for."""

    language: str = "en-US"
    hints: list[str] = field(default_factory=list)
    model: str = "default"
    profanity_filter: bool = True


class Listener(Protocol):
    """Caller input for one gather."""

    speech: bool  # False when speech was asked for but no model can serve it

    async def next(self, timeout: float | None) -> Input | None: ...
    def stop_speech(self) -> None: ...
    async def speech_result(self) -> tuple[str, float]: ...


@dataclass(frozen=True)
class Saved:
    """A <Record>ing, stored and served: its SID, absolute URL and length in seconds."""

    sid: str
    url: str
    duration: float


class RecordingUnavailable(Exception):
    """The box cannot record (its recordings folder cannot be written); the message says why."""


class Recorder(Protocol):
    """The caller's audio for one <Record>, fed by the call."""

    sid: str
    url: str        # where it will be served
    seconds: float  # recorded so far
    silence: float  # since the caller last spoke (or since the start)
    gone: bool      # the caller hung up during the recording

    async def next(self, timeout: float | None) -> Input | None: ...  # digit | speech_start | speech_end | hangup
    async def finish(self, trim: bool) -> Saved | None: ...           # None: nothing was said


class Channel(Protocol):
    @property
    def now(self) -> float: ...

    def emit(self, event: str, **fields) -> None: ...

    async def fetch_twiml(self, url: str, method: str, params: dict[str, str],
                          caller_input: bool = False) -> Document:
        """Raises FetchError or TwimlError (both with ``code`` and ``message``)."""

    async def say(self, text: str, voice: str, language: str, ssml: str = "") -> None: ...
    async def play(self, url: str, digits: str) -> None: ...
    async def pause(self, seconds: float) -> None: ...
    def listen(self, speech: Speech | None) -> AbstractAsyncContextManager[Listener]: ...
    def partial_result(self, url: str, method: str, text: str, stability: float) -> None: ...
    async def hangup(self) -> None: ...
    async def reject(self, reason: str) -> None: ...
    async def beep(self) -> None: ...
    def record(self) -> AbstractAsyncContextManager[Recorder]: ...  # raises RecordingUnavailable
    def callback(self, url: str, method: str, params: dict[str, str]) -> None:
        """A status callback with exactly PARAMS, durable, in the background."""

    def transcribe(self, saved: Saved, callback: str) -> None: ...   # in the background
    async def after_hangup(self, url: str, method: str, params: dict[str, str]) -> None:
        """The action request once the caller has gone: made, its answer not run."""
