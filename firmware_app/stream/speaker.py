"""The box's voice in a ConversationRelay session: text tokens become speech
as they stream in, a clause at a time, so the caller hears the start of a
reply before the app has finished writing it.

Each piece (a clause, a <Play> file, digits) is made ready in order by one
task and queued on the call's VoiceQueue between two marks, so the session
knows what the caller has heard when they interrupt.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field

from ..listen.tones import dtmf_audio
from .port import PortError

# A clause ends at punctuation followed by a space or the end of the token.
CLAUSE_END = re.compile(r"[.!?;:,。！？，、\n](\s|$)")
FIRST_WAIT = 0.1                  # a reply's first words wait this long for their clause to end
IDLE_FLUSH = 0.4                  # seconds without a token before what is there is spoken anyway
MAX_PIECE_CHARS = 200
MAX_PIECES = 1000                 # clauses, files and digits waiting: memory stays bounded
MAX_LOOP = 100                    # play loop=0 (forever) until interrupted, up to this


@dataclass
class Piece:
    kind: str                     # text | play | digits
    content: str
    modes: frozenset = frozenset()   # what may interrupt it: speech, dtmf
    preemptible: bool = False
    loop: int = 1
    language: str = ""
    number: int = 0
    audio_ms: int = 0
    started_ms: int = 0           # VoiceQueue.heard_ms when the caller began to hear it


@dataclass
class Speaker:
    port: object
    voice_for: object             # language -> (voice, language) for synthesis
    on_start: object              # callback(piece) when a piece starts playing
    pieces: asyncio.Queue = field(default_factory=asyncio.Queue)
    playing: dict = field(default_factory=dict)       # number -> Piece queued on the voice
    heard: list = field(default_factory=list)         # text of the current response that has played
    current: Piece | None = None
    _text: str = ""
    _text_piece: Piece | None = None
    _count: int = 0
    _idle: asyncio.TimerHandle | None = None
    _early: asyncio.TimerHandle | None = None
    _task: asyncio.Task | None = None
    generation: int = 0
    outstanding: set = field(default_factory=set)     # numbers of pieces not yet fully played
    overflowed: bool = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def close(self) -> None:
        for timer in (self._idle, self._early):
            if timer:
                timer.cancel()
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    @property
    def speaking(self) -> bool:
        """Anything said or written that the caller has not finished hearing."""
        return bool(self.outstanding) or bool(self._text)

    def token(self, text: str, last: bool, template: Piece) -> None:
        """A text token; spoken once a clause is complete, the reply is last, or tokens pause."""
        if not self._text and not self.outstanding:
            # Nothing to say yet: the caller waits on these first words, so they
            # go out after FIRST_WAIT even if their clause is still being written.
            self._early = asyncio.get_running_loop().call_later(FIRST_WAIT, self._first_words)
        self._text += text
        self._text_piece = template
        if self._idle:
            self._idle.cancel()
            self._idle = None
        while True:
            end = CLAUSE_END.search(self._text)
            if end is None and len(self._text) < MAX_PIECE_CHARS:
                break
            cut = end.end() if end else MAX_PIECE_CHARS
            self._queue_text(self._text[:cut])
            self._text = self._text[cut:]
        if last:
            self.flush()
        elif self._text:
            self._idle = asyncio.get_running_loop().call_later(IDLE_FLUSH, self.flush)

    def _first_words(self) -> None:
        if self.outstanding:
            return
        cut = self._text.rfind(" ")
        if cut > 0:
            self._queue_text(self._text[:cut])
            self._text = self._text[cut + 1:]

    def flush(self) -> None:
        if self._text.strip():
            self._queue_text(self._text)
        self._text = ""

    def _queue_text(self, text: str) -> None:
        if text.strip():
            t = self._text_piece
            self.add(Piece("text", text.strip(), t.modes, t.preemptible, language=t.language))

    def add(self, piece: Piece) -> None:
        if len(self.outstanding) >= MAX_PIECES:
            if not self.overflowed:
                self.overflowed = True
                self.port.emit("warning", message=f"ConversationRelay: over {MAX_PIECES} pieces waiting to be "
                               "spoken; dropping what the app sends until they play")
            return
        self._count += 1
        piece.number = self._count
        self.outstanding.add(piece.number)
        self.pieces.put_nowait((self.generation, piece))

    def cut(self) -> None:
        """Stop speaking: drop what is queued, playing, and half-written."""
        self.generation += 1
        self._text = ""
        while not self.pieces.empty():
            self.pieces.get_nowait()
        self.port.voice.clear()
        self.playing.clear()
        self.outstanding.clear()
        self.current = None

    def marks(self, names: list[str]) -> None:
        """Marks the pump found due: a piece started or finished playing."""
        for name in names:
            edge, _, number = name.partition(":")
            piece = self.playing.get(int(number)) if number.isdigit() else None
            if piece is None:
                continue
            if edge == "start":
                piece.started_ms = self.port.voice.heard_ms
                self.current = piece
                self.on_start(piece)
            elif edge == "end":
                del self.playing[piece.number]
                self.outstanding.discard(piece.number)
                if piece.kind == "text":
                    self.heard.append(piece.content)
                if self.current is piece:
                    self.current = None

    def heard_so_far(self) -> str:
        """What the caller heard of this response: whole pieces, and the words of the
        current one in proportion to how much of it has played."""
        words = list(self.heard)
        piece = self.current
        if piece is not None and piece.kind == "text" and piece.audio_ms:
            played = self.port.voice.heard_ms - piece.started_ms
            split = piece.content.split()
            words.append(" ".join(split[:round(len(split) * min(1.0, played / piece.audio_ms))]))
        return " ".join(w for w in words if w)

    async def _run(self) -> None:
        while True:
            generation, piece = await self.pieces.get()
            pcm = await self._render(piece)
            if generation != self.generation:
                continue
            if not pcm:
                self.outstanding.discard(piece.number)
                continue
            piece.audio_ms = len(pcm) // 16
            voice = self.port.voice
            self.playing[piece.number] = piece
            voice.mark(f"start:{piece.number}")
            if not voice.push(pcm):
                self.port.emit("warning", message="ConversationRelay: too much speech queued; dropped a piece")
            voice.mark(f"end:{piece.number}")

    async def _render(self, piece: Piece) -> bytes:
        port = self.port
        if piece.kind == "text":
            voice, language = self.voice_for(piece.language)
            return await port.synth(piece.content, voice, language)
        if piece.kind == "digits":
            return dtmf_audio(piece.content).tobytes()
        try:
            pcm = await port.fetch_audio(piece.content)
        except PortError as e:
            port.emit("error", code=e.code, message=f"ConversationRelay play: {e.message}", url=piece.content)
            return b""
        return pcm * min(piece.loop or MAX_LOOP, MAX_LOOP)
