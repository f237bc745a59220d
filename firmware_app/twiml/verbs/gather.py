"""<Gather>, exactly as Twilio documents it (shared/seeds/twiml-gather.txt).

The gather reads caller input from a Listener, which the call feeds from
its frame pump:

- nested <Say>, <Play> and <Pause> play first; the first key (or, for
  speech, speech onset) cuts them off, and the cut is reported;
- the timeout starts when the nested verbs finish, and restarts after each
  key;
- finishOnKey submits at once (and is not part of Digits; with '' no key
  finishes); reaching numDigits submits at once;
- speech ends after speechTimeout seconds of trailing silence, or at the
  end of the utterance with "auto", and is capped at 60 seconds; in
  "dtmf speech" a key stops speech collection and only Digits is sent;
- no input (or finishOnKey alone) falls through to the next verb, unless
  actionOnEmptyResult is true.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from ..channel import Channel, Input, Listener, Speech
from ..schema import Attr, BadValue, Boolean, Choice, Integer, Number, Url
from .registry import register
from .base import CONTINUE, Follow, Verb

SPEECH_CAP = 60.0
KEYS = "0123456789*#"
SPEECH_MODELS = ("default", "numbers_and_commands", "phone_call")


class Inputs(Attr):
    def read(self, raw):
        inputs = frozenset(raw.split())
        if not inputs or not inputs <= {"dtmf", "speech"}:
            raise BadValue("must be dtmf, speech or 'dtmf speech'")
        return inputs


class Hints(Attr):
    """Split only: the speech layer applies Twilio's limits, and warns, where it knows the model."""

    def read(self, raw):
        return tuple(h.strip() for h in raw.split(",") if h.strip())


class SpeechTimeout(Number):
    def read(self, raw):
        return "auto" if raw == "auto" else super().read(raw)


@register
@dataclass
class Gather(Verb):
    tag = "Gather"
    attributes = (
        Url("action", follow="twiml", method="method", empty_is_document=True),
        Choice("method", "POST", choices=("GET", "POST")),
        Number("timeout", 5.0, minimum=0),
        Choice("finishOnKey", "#", "finish_on_key", choices=(*KEYS, "")),
        Integer("numDigits", None, "num_digits", minimum=1),
        Inputs("input", frozenset({"dtmf"})),
        Attr("language", "en-US"),
        Hints("hints", ()),
        Url("partialResultCallback", "", "partial_result_callback"),
        Choice("partialResultCallbackMethod", "POST", "partial_result_callback_method", choices=("GET", "POST")),
        Boolean("profanityFilter", True, "profanity_filter"),
        SpeechTimeout("speechTimeout", None, "speech_timeout"),  # None: the timeout value
        Choice("speechModel", "default", "speech_model", choices=SPEECH_MODELS),
        Boolean("actionOnEmptyResult", False, "action_on_empty_result"),
    )
    nests = ("Say", "Play", "Pause")

    action: str = ""
    method: str = "POST"
    timeout: float = 5.0
    finish_on_key: str = "#"
    num_digits: int | None = None
    input: frozenset[str] = frozenset({"dtmf"})
    language: str = "en-US"
    hints: list[str] = field(default_factory=list)
    partial_result_callback: str = ""
    partial_result_callback_method: str = "POST"
    profanity_filter: bool = True
    speech_timeout: float | str | None = None
    speech_model: str = "default"
    action_on_empty_result: bool = False
    children: list[Verb] = field(default_factory=list)

    @classmethod
    def build(cls, values, children, warn):
        return cls(**{**values, "hints": list(values["hints"]), "children": children})

    async def run(self, ch):
        params = await gather(ch, self)
        return CONTINUE if params is None else Follow(self.action, self.method, params, caller_input=True)

    def crawl_params(self):
        """One-key menus are tried with each key; other gathers are not guessed at."""
        return tuple({"Digits": k} for k in KEYS) if self.num_digits == 1 else ()

    def lint(self, context):
        if "action" not in self.given:
            yield "warning", ("<Gather> has no action: the caller's input is posted back to this same document, "
                              "which usually plays the same prompt again (a loop)")
        if "dtmf" in self.input and self.num_digits and self.finish_on_key and self.finish_on_key in KEYS[:10]:
            yield "warning", (f"<Gather finishOnKey={self.finish_on_key!r}> is also a digit the caller may enter "
                              f"(numDigits={self.num_digits}); pressing it submits instead of counting")
        if "speech" in self.input and not context.has_speech(self.language):
            yield "warning", (f"<Gather input={' '.join(sorted(self.input))!r}> listens for speech in "
                              f"{self.language!r}, which has no configured speech model: "
                              "the box will not hear speech there")


async def _prompts(ch: Channel, g: Gather, inputs: Listener, barge_in: set[str]) -> Input | None:
    """Play the nested verbs; return the input that cut them off, if any."""
    if not g.children:
        return None
    current = g.children[0]

    async def play_all():
        nonlocal current
        for verb in g.children:
            current = verb
            await verb.run(ch)

    async def first_input():
        while True:
            ev = await inputs.next(None)
            if ev.kind in barge_in:
                return ev

    prompts = asyncio.create_task(play_all())
    waiter = asyncio.create_task(first_input())
    try:
        done, _ = await asyncio.wait({prompts, waiter}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (prompts, waiter):
            task.cancel()
        await asyncio.gather(prompts, waiter, return_exceptions=True)
    if waiter in done and not waiter.cancelled():
        if prompts.cancelled():
            ch.emit("interrupted", verb=current.tag)
        return waiter.result()
    prompts.result()
    return None


async def gather(ch: Channel, g: Gather) -> dict[str, str] | None:
    """Run one <Gather>. Return the action's parameters, or None to fall through."""
    speech_asked = "speech" in g.input
    options = Speech(g.language, g.hints, g.speech_model, g.profanity_filter) if speech_asked else None
    async with ch.listen(options) as inputs:
        dtmf = "dtmf" in g.input
        speech = "speech" in g.input and inputs.speech
        barge_in = ({"digit"} if dtmf else set()) | ({"speech_start"} if speech else set())
        first = await _prompts(ch, g, inputs, barge_in)
        ch.emit("_listen", input=sorted(g.input), language=g.language)

        digits = ""
        state = "idle"  # idle | digits | speaking | trailing
        speech_timeout = g.timeout if g.speech_timeout is None else g.speech_timeout
        deadline = ch.now + g.timeout  # when the current state gives up; other events do not move it
        speech_cap = 0.0
        ev = first
        while True:
            if ev is None:
                ev = await inputs.next(max(0.0, deadline - ch.now))
                if ev is None:
                    break
            if ev.kind == "digit" and dtmf:
                if state in ("speaking", "trailing") and ev.value == g.finish_on_key:
                    pass  # the seed: finishOnKey has no impact once the caller starts speaking
                else:
                    if speech and state != "digits":
                        inputs.stop_speech()
                        speech = False
                    if g.finish_on_key and ev.value == g.finish_on_key:
                        break
                    digits += ev.value
                    state, deadline = "digits", ch.now + g.timeout
                    if g.num_digits and len(digits) >= g.num_digits:
                        break
            elif speech and state != "digits":
                if ev.kind == "speech_start":
                    if state == "idle":
                        speech_cap = ch.now + SPEECH_CAP
                    state, deadline = "speaking", speech_cap
                elif ev.kind == "speech_end" and state == "speaking":
                    if speech_timeout == "auto":
                        break
                    # the silence began when voice activity last heard speech, ev.ago before now
                    state, deadline = "trailing", min(ch.now - ev.ago + speech_timeout, speech_cap)
                elif ev.kind == "endpoint" and speech_timeout == "auto" and state in ("speaking", "trailing"):
                    break
                elif ev.kind == "partial" and g.partial_result_callback and state != "idle":
                    ch.partial_result(g.partial_result_callback, g.partial_result_callback_method, ev.value, ev.stability)
            ev = None

        text, confidence = "", 0.0
        if speech and state in ("speaking", "trailing"):
            text, confidence = await inputs.speech_result()

    if digits:
        ch.emit("gather", input="dtmf", digits=digits, speech_result="", confidence=None)
        return {"Digits": digits}
    if text:
        ch.emit("gather", input="speech", digits="", speech_result=text, confidence=round(confidence, 3))
        return {"SpeechResult": text, "Confidence": f"{confidence:.6f}".rstrip("0").rstrip(".") or "0"}
    ch.emit("gather", input="none", digits="", speech_result="", confidence=None)
    if g.action_on_empty_result:
        return {"Digits": ""} if dtmf else {"SpeechResult": "", "Confidence": "0"}
    return None
