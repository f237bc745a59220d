"""One utterance of ``<Gather input="speech">``, recognised off the event loop.

A SpeechSession takes a loaded model (models.py), is fed 20 ms frames and
ends with ``await session.result()`` -> (SpeechResult, Confidence). The
model is any engine's (engine.py); Vosk is the one in speech_vosk. A session
runs each recognizer in its own worker thread: the loop only queues frames
and reads events.

With hints, only a grammar recognizer built from them runs live: it costs
a tenth of an open one. A grammar forces whatever was said onto its
phrases, so its result only wins when it is plausible: for
``numbers_and_commands`` any run of hints and number words; for ``default``
and ``phone_call`` exactly one hint, heard with confidence. Otherwise an
open recognizer runs over the utterance's audio, kept meanwhile (up to
``KEPT_SECONDS``), and its free text is the answer.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import queue
import threading

from drivers.constants import FRAME_SECONDS

from .engine import NICE, SpeechError, Stream, Word, lower_priority
from .hints import mask_profanity, prepare_hints

SPEECH_MODELS = ("default", "numbers_and_commands", "phone_call")
# A grammar result of the open-vocabulary speech models below this mean word
# confidence is replaced by the free-text result.
GRAMMAR_MIN_CONFIDENCE = 0.5
PARTIAL_EVERY_FRAMES = 5            # partial results every 100 ms of audio
_BATCH_FRAMES = 50                  # a lagging worker catches up 1 s at a time
KEPT_SECONDS = 60                   # audio kept for the open recognizer behind a grammar
MODEL_WAIT_SECONDS = 60             # a result waits this long for a model still loading


_STOP = object()


class _Lane:
    """One recognizer in its own thread, fed through a queue."""

    def __init__(self, session: SpeechSession, make_stream, primary: bool, nice: int | None = None) -> None:
        self.session = session
        self.nice = NICE[primary] if nice is None else nice
        self.make_stream = make_stream
        self.primary = primary
        self.inbox: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._done = False
        self._held = None
        self.words: list[Word] = []
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self.run, name="speech", daemon=True)
        self.thread.start()

    def put(self, item) -> bool:
        """Queue ITEM; False if the worker has already finished."""
        with self._lock:
            if not self._done:
                self.inbox.put(item)
            return not self._done

    def run(self) -> None:
        lower_priority(self.nice)  # the fallback, needed only when the grammar misses, yields the most
        try:
            self._work()
        finally:
            with self._lock:
                self._done = True
            left = [self._held] if self._held is not None else []
            while True:                 # answer whoever asked after the end
                try:
                    left.append(self.inbox.get_nowait())
                except queue.Empty:
                    break
            for item in left:
                if isinstance(item, tuple):
                    self.session._resolve(item[1], None)

    def _work(self) -> None:
        try:
            self._recognise(self.make_stream())
        except Exception as e:          # noqa: BLE001 - result() reports it as a SpeechError
            self.error = e

    def _recognise(self, stream: Stream) -> None:
        frames = 0
        while True:
            item = self._held if self._held is not None else self.inbox.get()
            self._held = None
            if isinstance(item, bytes):
                chunk = [item]
                while len(chunk) < _BATCH_FRAMES:
                    try:
                        nxt = self.inbox.get_nowait()
                    except queue.Empty:
                        break
                    if not isinstance(nxt, bytes):
                        self._held = nxt      # a request: answered after this chunk
                        break
                    chunk.append(nxt)
                before = frames
                frames += len(chunk)
                if stream.accept(b"".join(chunk)):
                    ended = stream.take()
                    self.words += ended
                    if self.primary and any(not w.unknown for w in ended):
                        self.session._post(("endpoint",))
                elif self.primary and frames // PARTIAL_EVERY_FRAMES != before // PARTIAL_EVERY_FRAMES:
                    self.session._partial(self.words, stream.partial())
            elif item is _STOP:
                stream.close()
                return
            else:
                kind, future = item
                if kind == "finish":
                    self.words += stream.finish()
                    self.session._resolve(future, self.words)
                    return
                self.session._resolve(future, None)


class SpeechSession:
    """One utterance. Created by the <Gather> when input includes speech.

    ``events`` receives ``("partial", text, stability)`` as the partial result
    changes and ``("endpoint",)`` when the recognizer hears the end of an
    utterance. ``warnings`` lists problems with the hints, for warning events.
    """

    def __init__(self, model, *, hints: list[str], speech_model: str, profanity_filter: bool,
                 rate: int = 8000) -> None:
        if model is None:
            raise ValueError("no speech model: check SpeechModels.get() and why_missing() first")
        if speech_model not in SPEECH_MODELS:
            raise ValueError(f"speechModel {speech_model!r} is not one of {', '.join(SPEECH_MODELS)}")
        if not isinstance(profanity_filter, bool):
            raise TypeError(f"profanity_filter must be True or False, got {profanity_filter!r}")
        if not isinstance(rate, int) or rate <= 0:
            raise ValueError(f"rate must be a positive sample rate in Hz, got {rate!r}")
        self._loop = asyncio.get_running_loop()
        self._engine = type(model).__name__
        self.events: asyncio.Queue = asyncio.Queue()
        self.profanity_filter = profanity_filter
        self.constrained = speech_model == "numbers_and_commands"
        numbers = model.number_words() if self.constrained else []
        self.grammar, self.warnings = prepare_hints(hints, model, numbers)
        self._last_partial: list[str] = []
        self._result: tuple[str, float] | None = None
        self._closed = False
        self._open_stream = functools.partial(model.open_stream, rate)
        self._kept: collections.deque[bytes] | None = None
        if self.grammar:
            self._lanes = [_Lane(self, functools.partial(model.grammar_stream, rate, self.grammar), True)]
            self._kept = collections.deque(maxlen=round(KEPT_SECONDS / FRAME_SECONDS))
        else:
            self._lanes = [_Lane(self, self._open_stream, True)]

    # -- called from worker threads
    def _post(self, event: tuple) -> None:
        try:
            self._loop.call_soon_threadsafe(self.events.put_nowait, event)
        except RuntimeError:            # the loop is gone: nobody is listening
            pass

    def _resolve(self, future: asyncio.Future, value) -> None:
        def settle():
            if not future.done():
                future.set_result(value)
        try:
            self._loop.call_soon_threadsafe(settle)
        except RuntimeError:
            pass

    def _partial(self, done: list[Word], partial: str) -> None:
        words = [w.text for w in done if not w.unknown] + partial.split()
        if not words or words == self._last_partial:
            return
        same = sum(1 for a, b in zip(words, self._last_partial) if a == b)
        self._last_partial = words
        text = " ".join(words)
        self._post(("partial", mask_profanity(text) if self.profanity_filter else text,
                    round(same / len(words), 2)))

    # -- called on the loop
    def feed(self, frame: bytes) -> None:
        """Queue one frame of audio; returns at once. Ignored once result() or close() ran."""
        if not isinstance(frame, (bytes, bytearray, memoryview)):
            raise TypeError(f"feed() takes PCM bytes, got {type(frame).__name__}")
        if self._result is None and not self._closed:
            frame = bytes(frame)
            for lane in self._lanes:
                lane.put(frame)
            if self._kept is not None:
                self._kept.append(frame)

    async def _ask(self, lane: _Lane, kind: str):
        future = self._loop.create_future()
        if not lane.put((kind, future)):
            return None
        return await future

    async def settle(self) -> None:
        """Wait until every frame fed so far has been processed by every recognizer."""
        if self._result is None and not self._closed:
            await asyncio.gather(*(self._ask(lane, "settle") for lane in self._lanes))

    async def result(self) -> tuple[str, float]:
        """End the utterance: (SpeechResult, Confidence 0.0-1.0). Later calls return the same."""
        if self._result is not None:
            return self._result
        if self._closed:
            raise RuntimeError("result() after close()")
        primary = self._lanes[0]
        words = await self._ask(primary, "finish")
        if primary.error or words is None:
            self.close()
            raise SpeechError(f"the {self._engine} recognizer failed: {primary.error}") from primary.error
        if self._kept is not None:
            heard = [w for w in words if not w.unknown]
            plausible = heard and len(heard) == len(words) and (self.constrained or (
                " ".join(w.text for w in heard) in self.grammar and _mean(heard) >= GRAMMAR_MIN_CONFIDENCE))
            if not plausible:
                # The caller waits for this one: it runs at the primary's niceness.
                fallback = _Lane(self, self._open_stream, False, nice=NICE[True])
                self._lanes.append(fallback)
                for frame in self._kept:
                    fallback.put(frame)
                self._kept = None
                free = await self._ask(fallback, "finish")
                if free:
                    words = free
            self._kept = None
        words = [w for w in words if not w.unknown]
        text = " ".join(w.text for w in words)
        if self.profanity_filter:
            text = mask_profanity(text)
        self._result = (text, round(_mean(words), 4))
        return self._result

    def close(self) -> None:
        """Stop the recognizers without a result. Safe to call twice."""
        if not self._closed:
            self._closed = True
            for lane in self._lanes:
                lane.put(_STOP)


class PendingSession:
    """A speech session whose model is still loading (the first calls after
    boot): it keeps the utterance's audio, up to ``KEPT_SECONDS``, and hands
    it to a SpeechSession once the model is there, so what the caller said
    meanwhile is recognised, only later. ``result()`` waits for the model for
    up to ``MODEL_WAIT_SECONDS``. ``started`` is called with the session made.
    """

    def __init__(self, models, language: str, started=lambda session: None, **options) -> None:
        self.models, self.language, self.options = models, language, options
        self.started = started
        self.session: SpeechSession | None = None
        self._kept: collections.deque[bytes] = collections.deque(maxlen=round(KEPT_SECONDS / FRAME_SECONDS))
        self._idle: asyncio.Queue = asyncio.Queue()
        self._closed = False

    @property
    def events(self) -> asyncio.Queue:
        return self.session.events if self.session is not None else self._idle

    def _ready(self) -> bool:
        if self.session is None and not self._closed and (model := self.models.get(self.language)) is not None:
            self.session = SpeechSession(model, **self.options)
            for frame in self._kept:
                self.session.feed(frame)
            self._kept.clear()
            self.started(self.session)
        return self.session is not None

    def feed(self, frame: bytes) -> None:
        if self._ready():
            self.session.feed(frame)
        elif not self._closed:
            self._kept.append(bytes(frame))

    async def settle(self) -> None:
        if self._ready():
            await self.session.settle()

    async def result(self) -> tuple[str, float]:
        loop = asyncio.get_running_loop()
        end = loop.time() + MODEL_WAIT_SECONDS
        while not self._ready():
            if self._closed:
                raise RuntimeError("result() after close()")
            if not self.models.loading(self.language) or loop.time() > end:
                if self._ready():  # it loaded since the look above
                    break
                self.close()
                raise SpeechError(self.models.why_missing(self.language) or "the speech model did not load")
            await asyncio.sleep(0.1)
        return await self.session.result()

    def close(self) -> None:
        self._closed = True
        self._kept.clear()
        if self.session is not None:
            self.session.close()


def _mean(words: list[Word]) -> float:
    return sum(w.conf for w in words) / len(words) if words else 0.0
