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
from dataclasses import dataclass
from typing import Protocol

from .verbs import Gather, Pause, Play, Say

SPEECH_CAP = 60.0


@dataclass
class Input:
    kind: str  # digit | speech_start | speech_end | partial | endpoint
    value: str = ""
    stability: float = 0.0
    ago: float = 0.0  # how long before it was reported it happened (voice activity's hangover)


class Listener(Protocol):
    speech: bool  # False when speech was asked for but no model can serve it

    async def next(self, timeout: float | None) -> Input | None: ...
    def stop_speech(self) -> None: ...
    async def speech_result(self) -> tuple[str, float]: ...


async def play_media(ch, verb) -> None:
    if isinstance(verb, Say):
        for _ in range(verb.loop or 1000):
            await ch.say(verb)
    elif isinstance(verb, Play):
        for _ in range(verb.loop or 1000):
            await ch.play(verb)
    elif isinstance(verb, Pause):
        await ch.pause(verb.length)


async def _prompts(ch, g: Gather, inputs: Listener, barge_in: set[str]) -> Input | None:
    """Play the nested verbs; return the input that cut them off, if any."""
    if not g.children:
        return None
    current = g.children[0]

    async def play_all():
        nonlocal current
        for verb in g.children:
            current = verb
            await play_media(ch, verb)

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
            ch.emit("interrupted", verb=type(current).__name__)
        return waiter.result()
    prompts.result()
    return None


async def run_gather(ch, g: Gather) -> dict[str, str] | None:
    """Run one <Gather>. Return the action's parameters, or None to fall through."""
    async with ch.listen(g) as inputs:
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
                    ch.partial_result(g, ev.value, ev.stability)
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
