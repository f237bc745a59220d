"""<Gather>'s speech timing on its own: the frame clock, the real Listener, and
input events placed at exact times. The recognizer is stood in for by a fixed
answer (the real one is tested with the Vosk model in test_speech*.py), so
these tests can reach a 60 s utterance in milliseconds."""

import asyncio
from contextlib import asynccontextmanager

import pytest

from firmware_app.listen.listener import Listener
from firmware_app.clock import Clock
from firmware_app.twiml.channel import Input
from firmware_app.twiml.verbs.gather import gather
from firmware_app.twiml.parse import parse


class Answer:
    """A recognizer that always heard the same thing."""

    async def result(self):
        return "예약", 0.9

    def close(self):
        pass


class Box:
    """The channel a gather runs on, with time advanced frame by frame by the test."""

    def __init__(self):
        self.clock = Clock()
        self.events = []
        self.listener = None

    @property
    def now(self):
        return self.clock.t

    def emit(self, event, **fields):
        self.events.append({"t": self.clock.t, "event": event, **fields})

    def partial_result(self, *args):
        self.emit("partial")

    @asynccontextmanager
    async def listen(self, speech):
        self.listener = Listener(self.clock, self.emit, session=Answer(), vad=None)
        yield self.listener


def gather_at(doc: str, script: dict[float, Input], seconds: float = 90.0):
    """Run the gather; put each scripted input at its call time; return (params, events)."""
    g = parse(f"<Response>{doc}</Response>", "http://box.test/ivr").verbs[0]
    box = Box()

    async def main():
        task = asyncio.create_task(gather(box, g))
        for frame in range(round(seconds / 0.02)):
            await box.clock.settle()
            if task.done():
                break
            for ev in [ev for t, ev in script.items() if round(t / 0.02) == frame]:
                box.listener.queue.put_nowait(ev)
            box.clock.tick()
        return await task

    return asyncio.run(main()), box.events


def ended(events):
    return next(e for e in events if e["event"] == "gather")


def test_speech_is_capped_at_60_seconds_from_its_onset():
    params, events = gather_at('<Gather input="speech" timeout="5"/>', {0.5: Input("speech_start")})
    assert ended(events)["t"] == pytest.approx(60.5, abs=0.03)
    assert params == {"SpeechResult": "예약", "Confidence": "0.9"}


def test_trailing_silence_counts_from_the_last_voiced_frame_and_ignores_other_events():
    script = {0.5: Input("speech_start"), 1.0: Input("speech_end", ago=0.3),
              1.5: Input("partial", "예약", 0.5), 2.0: Input("endpoint")}
    _, events = gather_at('<Gather input="speech" speechTimeout="2" partialResultCallback="/p"/>', script)
    assert ended(events)["t"] == pytest.approx(1.0 - 0.3 + 2.0, abs=0.03)
    assert [e["event"] for e in events].count("partial") == 1


def test_speech_resuming_in_the_silence_keeps_listening():
    script = {0.5: Input("speech_start"), 1.0: Input("speech_end", ago=0.3),
              2.0: Input("speech_start"), 3.0: Input("speech_end", ago=0.3)}
    _, events = gather_at('<Gather input="speech" speechTimeout="1.5"/>', script)
    assert ended(events)["t"] == pytest.approx(3.0 - 0.3 + 1.5, abs=0.03)


def test_auto_ends_at_the_end_of_the_utterance_or_the_recognizers_endpoint():
    _, events = gather_at('<Gather input="speech" speechTimeout="auto"/>',
                          {0.5: Input("speech_start"), 1.2: Input("speech_end", ago=0.3)})
    assert ended(events)["t"] == pytest.approx(1.2, abs=0.03)
    _, events = gather_at('<Gather input="speech" speechTimeout="auto"/>',
                          {0.5: Input("speech_start"), 0.9: Input("endpoint")})
    assert ended(events)["t"] == pytest.approx(0.9, abs=0.03)


def test_no_onset_within_timeout_is_no_input():
    params, events = gather_at('<Gather input="speech" timeout="3"/>', {1.0: Input("partial", "x", 0.1)})
    assert params is None and ended(events)["input"] == "none"
    assert ended(events)["t"] == pytest.approx(3.0, abs=0.03)


def test_finish_on_key_has_no_effect_once_the_caller_speaks_but_another_key_takes_over():
    script = {0.5: Input("speech_start"), 0.8: Input("digit", "#"), 1.0: Input("digit", "4"),
              1.2: Input("digit", "#")}
    params, events = gather_at('<Gather input="dtmf speech"/>', script)
    assert params == {"Digits": "4"}
    assert ended(events)["t"] == pytest.approx(1.2, abs=0.03)
