"""The simulated line: a scripted caller on a virtual clock.

The caller's side of the call is a script of steps separated by spaces:

    wait:SECONDS   wait:prompt   wait:listen   dtmf:KEYS   key:KEYS
    say:'TEXT'     say@ko-KR:'TEXT'            wav:PATH    hangup
    dial:answered:30   dial:busy   dial:no-answer   dial:failed

``dtmf:`` keys travel as in-band tones through the box's DTMF detector;
``key:`` presses the box's own keypad. ``say:`` speaks in the language the
box is listening for (or the one after ``@``). Frames are produced as fast
as the box consumes them, so a minute of call takes a fraction of a second.
``dial:`` steps take no time: they choose, in order, the far end of each
number the box dials (see ``sim_exchange.py``).

The line can be impaired as a real one is (``drivers.impair``): ``echo``
(a hybrid echo path: return loss and delay, as ``6dB,20ms``), ``codec``,
``noise``, ``level`` and ``clip``. With an echo path the box runs its echo
canceller (``drivers.echo``) as on a 2-wire line, unless ``canceller=off``.

The caller's voice comes from the layers above, handed in: ``tones(keys)``
makes DTMF audio (int16 samples at 8 kHz), ``decode(data)`` turns an audio
file's bytes into 8 kHz PCM (raising ValueError for bytes that are not
audio), and ``await tts.synth(text, voice, language)`` speaks (PCM and a
warning). A script that needs one it was not given is refused when the
line is built.

    >>> line = SimLine(script="wait:prompt key:1234#")
    >>> line.realtime
    False
    >>> SimLine(script="dtmf:1")
    Traceback (most recent call last):
    drivers.sim.ScriptError: caller script: 'dtmf:' steps need a tone maker (tones=)
"""

from __future__ import annotations

import asyncio
import logging
import math
import shlex
import wave
from pathlib import Path
from types import SimpleNamespace

from .constants import DTMF_KEYS, FRAME_BYTES, FRAME_SECONDS, IMPAIRMENTS, RATE, SILENCE
from .line import CallInfo, HungUp, Line, LineError
from .options import ECHO_OPTIONS, Option, echo_wanted, parse_options

log = logging.getLogger(__name__)

KEY_GAP_FRAMES = 5
STEP_KINDS = ("wait", "dtmf", "key", "say", "wav", "hangup", "dial")
OPTIONS = {
    "script": Option(str, ""),
    "max_seconds": Option(float, 600.0, least=0),
    "caller": Option(str, "+15550100"),
    "called": Option(str, "+15550199"),
    "record": Option(str),
    # drivers.impair: what the network and a 2-wire line do to the call
    **{name: Option(str) for name in IMPAIRMENTS},
    # drivers.echo: the box's canceller, on by default when there is an echo path
    "canceller": Option(str, choices=("on", "off")),
    "echo_tail": ECHO_OPTIONS["echo_tail"],
    "echo_delay": ECHO_OPTIONS["echo_delay"],
}
MAKERS = {"dtmf": "a tone maker (tones=)", "say": "a speech synthesizer (tts=)", "wav": "an audio decoder (decode=)"}


class ScriptError(LineError):
    pass


def parse_script(script: str) -> list[tuple[str, str, str]]:
    """Split a caller script into (kind, option, argument) steps.

    >>> parse_script("wait:2 say@ko-KR:'네 맞아요' dtmf:12#")
    [('wait', '', '2'), ('say', 'ko-KR', '네 맞아요'), ('dtmf', '', '12#')]
    """
    try:
        tokens = shlex.split(script or "")
    except ValueError as e:
        raise ScriptError(f"caller script: {e}") from None
    steps = []
    for token in tokens:
        head, _, arg = token.partition(":")
        kind, _, option = head.partition("@")
        if kind not in STEP_KINDS:
            raise ScriptError(f"caller script: unknown step {token!r} (steps: {', '.join(STEP_KINDS)})")
        if kind == "wait" and arg not in ("prompt", "listen"):
            try:
                if not 0 <= float(arg) < math.inf:  # also refuses nan
                    raise ValueError
            except ValueError:
                raise ScriptError(f"caller script: {token!r} needs finite seconds, 'prompt' or 'listen'") from None
        if kind in ("dtmf", "key") and (not arg or set(arg.upper()) - set(DTMF_KEYS)):
            raise ScriptError(f"caller script: {token!r} takes keys 0-9, *, #, A-D")
        if kind in ("say", "wav") and not arg:
            raise ScriptError(f"caller script: {token!r} needs text or a path")
        if kind == "dial":
            from .sim_exchange import far_end

            try:
                far_end(arg)
            except ValueError as e:
                raise ScriptError(str(e)) from None
        steps.append((kind, option, arg.upper() if kind in ("dtmf", "key") else arg))
    return steps


class SimLine(Line):
    realtime = False
    can_transfer = True
    bridges = True

    def __init__(self, target: str = "", *, tones=None, decode=None, tts=None, **options):
        super().__init__()
        o = parse_options("sim", options, OPTIONS)
        self.steps = parse_script(o.script)
        makers = {"dtmf": tones, "say": tts, "wav": decode}
        for kind in dict.fromkeys(kind for kind, _, _ in self.steps):
            if kind in makers and makers[kind] is None:
                raise ScriptError(f"caller script: '{kind}:' steps need {MAKERS[kind]}")
        self.max_frames = round(o.max_seconds / FRAME_SECONDS)
        self.info = CallInfo(caller=o.caller, called=o.called)
        self.tones, self.decode, self.tts = tones, decode, tts
        self.record_path = o.record
        self.sent = bytearray()
        self.frames = 0
        self.prompts = 0
        self.listening = False
        self.language = "en-US"
        self.tone_onsets: list[float] = []
        self._source = None
        self._far = None  # the exchange's audio while the box dials out, else None
        self.far_ends = [arg for kind, _, arg in self.steps if kind == "dial"]
        self.dialled: list[str] = []
        given = {name: options[name] for name in IMPAIRMENTS if options.get(name) is not None}
        self.impairments = None
        if given:  # numpy and sox's codecs load only for an impaired line
            from .impair import ImpairmentError, Impairments

            try:
                self.impairments = Impairments.from_options(given)
            except ImpairmentError as e:
                raise ScriptError(f"sim line: {e}") from None
        self._echo_path = self.impairments is not None and self.impairments.echo_db is not None
        self._echo = None
        wanted = SimpleNamespace(echo=o.canceller, echo_tail=o.echo_tail, echo_delay=o.echo_delay)
        self.canceller = None
        if echo_wanted(wanted, two_wire=self._echo_path):
            from .echo import from_options

            self.canceller = from_options(wanted, two_wire=True)
        self._wavs = {arg: self._read_audio(arg) for kind, _, arg in self.steps if kind == "wav"}

    async def wait_for_call(self) -> CallInfo:
        return self.info

    async def answer(self) -> None:
        self._source = self._caller()

    async def hangup(self) -> None:
        if self._source is not None and self.canceller is not None:
            log.info("sim: %s", self.canceller.state)
        if self._source is not None:
            await self._source.aclose()
            self._source = None
        if self.record_path:
            with wave.open(self.record_path, "wb") as w:
                w.setnchannels(1)
                w.setsampwidth(2)
                w.setframerate(RATE)
                w.writeframes(bytes(self.sent))

    async def read_frame(self) -> bytes:
        if self._source is None:
            raise LineError("the simulated line is not answered")
        if self.frames >= self.max_frames:
            raise HungUp("max seconds reached")
        self.frames += 1
        frame = await anext(self._source)
        if self._far is not None:  # the box is dialling out: it hears the exchange, not the caller
            frame = next(self._far)
        if self.impairments is not None:
            frame = self.impairments.line(frame, self._echo)
        return frame if self.canceller is None else self.canceller.capture(frame)

    async def flash(self, seconds: float) -> None:
        """The exchange holds the caller and plays dial tone; a second flash brings the caller back."""
        from .sim_exchange import dial_tone

        self._far = dial_tone() if self._far is None else None

    async def dial(self, digits: str) -> bool:
        from .sim_exchange import far_end, far_end_audio

        self.dialled.append(digits)
        self._far = far_end_audio(*(far_end(self.far_ends.pop(0)) if self.far_ends else ("no-answer", 0.0)))
        return True

    async def write_frame(self, frame: bytes) -> None:
        if self.record_path:
            self.sent += frame
        if self._echo_path:
            self._echo = self.impairments.echo(frame)
        if self.canceller is not None:
            self.canceller.playback(frame)

    def observe(self, event: dict) -> None:
        name = event["event"]
        if name in ("say", "play"):
            self.prompts += 1
            self.listening = False
        elif name == "_listen":
            self.listening = True
            self.language = event.get("language", self.language)
        elif name == "gather":
            self.listening = False

    async def _caller(self):
        for kind, option, arg in self.steps:
            if kind in ("dtmf", "key", "say", "wav"):
                # The caller answered: a later wait:listen waits for the box to listen again.
                self.listening = False
            if kind == "wait" and arg == "prompt":
                seen = self.prompts
                while self.prompts == seen:
                    yield SILENCE
            elif kind == "wait" and arg == "listen":
                while not self.listening:
                    yield SILENCE
            elif kind == "wait":
                for _ in range(round(float(arg) / FRAME_SECONDS)):
                    yield SILENCE
            elif kind == "dtmf":
                self.tone_onsets.append((self.frames - 1) * FRAME_SECONDS)
                for frame in _frames(await self._coded(self.tones(arg).tobytes())):
                    yield frame
            elif kind == "key":
                for key in arg:
                    self.post("key", key)
                    for _ in range(KEY_GAP_FRAMES):
                        yield SILENCE
            elif kind == "say":
                pcm, _ = await self.tts.synth(arg, "man", option or self.language)
                for frame in _frames(await self._coded(pcm)):
                    yield frame
            elif kind == "wav":
                for frame in _frames(await self._coded(self._wavs[arg])):
                    yield frame
            elif kind == "hangup":
                raise HungUp("the caller hung up")
        while True:
            yield SILENCE

    async def _coded(self, pcm: bytes) -> bytes:
        """The caller's audio as the network delivers it: level and codecs (sox, in a thread)."""
        if self.impairments is None or not (self.impairments.codecs or self.impairments.level_db):
            return pcm
        from .impair import ImpairmentError

        try:
            return await asyncio.to_thread(self.impairments.caller, pcm)
        except ImpairmentError as e:
            raise LineError(f"sim line: {e}") from None

    def _read_audio(self, path: str) -> bytes:
        try:
            data = Path(path).read_bytes()
        except OSError as e:
            raise ScriptError(f"caller script: wav:{path}: {e.strerror}") from None
        try:
            return self.decode(data)
        except ValueError as e:
            raise ScriptError(f"caller script: wav:{path}: {e}") from None


def _frames(pcm: bytes):
    for i in range(0, len(pcm), FRAME_BYTES):
        yield pcm[i:i + FRAME_BYTES].ljust(FRAME_BYTES, b"\0")


__all__ = ["SimLine", "ScriptError", "parse_script"]
