"""The speech-engine seam, like gpiozero's pin factory.

An engine loads models; a model makes recognizer streams. The session
(session.py) and every engine (speech_vosk.py) import only this module.
``[speech] engine`` in the config picks one by name:

    >>> sorted(ENGINES)
    ['vosk']
    >>> engine_named("vosk").name
    'vosk'
    >>> engine_named("whisper")
    Traceback (most recent call last):
    ...
    firmware_app.listen.engine.ModelError: unknown speech engine 'whisper' (known: vosk)

A new engine is one module with a class that has ``name``, ``load(path,
language)``, ``models()`` (its downloadable model table) and
``download(language, directory)``, plus its line in ENGINES.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

ENGINES = {"vosk": "firmware_app.listen.speech_vosk:VoskEngine"}
NICE = {True: 5, False: 10}  # recognizer threads' niceness: primary, fallback (and warming)


def lower_priority(nice: int) -> None:
    """Make the calling thread (a recognizer's) yield the CPU to the event loop
    (DTMF, playback, timers): Linux schedules threads with their own niceness."""
    with contextlib.suppress(AttributeError, OSError):  # not Linux, or not allowed
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)


class ModelError(Exception):
    """A model directory cannot be used; the message says why."""


class SpeechError(Exception):
    """The recognizer failed during an utterance."""


@dataclass
class Word:
    text: str
    conf: float
    unknown: bool = False           # the engine's "not in the grammar" token


class Stream(Protocol):
    """One recognizer over one stream of 16-bit PCM. Called from one worker thread."""

    def accept(self, pcm: bytes) -> bool: ...     # True at the end of an utterance
    def partial(self) -> str: ...
    def take(self) -> list[Word]: ...             # the utterance that just ended
    def finish(self) -> list[Word]: ...           # the rest; the stream is done
    def close(self) -> None: ...                  # done without the rest (the engine may reuse it)


class Model(Protocol):
    name: str
    language: str
    grammars: bool                                # grammar_stream() is supported

    def unknown_words(self, phrase: str) -> list[str]: ...
    def open_stream(self, rate: int) -> Stream: ...
    def grammar_stream(self, rate: int, phrases: list[str]) -> Stream: ...
    def number_words(self) -> list[str]: ...      # for speechModel="numbers_and_commands"
    # Optional: def warm(self, rate, speech=b"") -> None: let a recognizer hear silence, then SPEECH,
    # so that the first stream starts cheap (run after loading, and by SpeechModels.warm_up).


class Engine(Protocol):
    name: str

    def load(self, path: str, language: str) -> Model: ...  # raises ModelError
    def models(self) -> dict[str, dict]: ...                 # language -> what download() fetches
    def download(self, language: str, directory: Path) -> Path: ...  # the model's directory




def engine_named(name: str) -> Engine:
    target = ENGINES.get(name)
    if target is None:
        raise ModelError(f"unknown speech engine {name!r} (known: {', '.join(sorted(ENGINES))})")
    module, _, cls = target.partition(":")
    return getattr(importlib.import_module(module), cls)()


def lookup(table: dict, language: str):
    """TABLE's entry for a language tag, compared case-insensitively."""
    key = language.casefold()
    return next((v for k, v in table.items() if k.casefold() == key), None)
