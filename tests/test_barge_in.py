"""A prompt cut off by barge-in is dropped from the line's own queue too
(``Line.discard_output``), so the caller stops hearing it at once; a prompt
that plays to its end drops nothing. The line is the simulator's, counting
when the call asks it to drop; the sound card's own dropping is tested on
PulseAudio in test_sound.py."""

import asyncio

from bench.twiml_server import TwimlServer
from drivers.sim import SimLine
from firmware_app.call import Call
from firmware_app.commands.simulate import caller_voice
from firmware_app.config import load
from firmware_app.speak.tts import Synthesizer
from firmware_app.web import build_fetcher

PROMPT = "Thank you for calling. Please listen carefully, as our menu options have changed recently."


class CountingLine(SimLine):
    def __init__(self, **options):
        super().__init__(**options)
        self.discards = []
        self.written = 0

    def discard_output(self) -> int:
        self.discards.append(self.written * 0.02)  # call seconds, give or take a frame
        return 0

    async def write_frame(self, frame: bytes) -> None:
        self.written += 1
        await super().write_frame(frame)


def call(routes: dict, script: str, tmp_path) -> tuple[CountingLine, list[dict]]:
    async def run(url: str):
        config = load(None)
        config["server"]["url"] = url
        config["cache"]["dir"] = str(tmp_path / "cache")
        config["outbox"]["path"] = str(tmp_path / "outbox.sqlite")
        tts = Synthesizer.from_config(config)
        line = CountingLine(script=script, max_seconds=30, **caller_voice(tts))
        fetcher = build_fetcher(config)
        events = []
        try:
            await Call(line, config, fetcher=fetcher, tts=tts, sinks=[events.append]).run(await line.wait_for_call())
        finally:
            await fetcher.close()
        return line, events

    with TwimlServer(routes) as server:
        return asyncio.run(run(server.url("/a")))


def test_a_key_that_cuts_the_prompt_drops_what_the_line_queued(tmp_path):
    routes = {"/a": f'<Response><Gather numDigits="1" action="/b"><Say>{PROMPT}</Say></Gather></Response>',
              "/b": '<Response><Pause length="1"/><Hangup/></Response>'}
    line, events = call(routes, "wait:prompt wait:1 dtmf:5", tmp_path)
    cut = [e for e in events if e["event"] == "interrupted"]
    assert cut, [e["event"] for e in events]
    assert len(line.discards) == 1
    assert abs(line.discards[0] - cut[0]["t"]) <= 0.06  # in the frame the prompt was cut


def test_a_prompt_played_to_its_end_drops_nothing(tmp_path):
    routes = {"/a": f'<Response><Say>{PROMPT}</Say><Gather numDigits="1" action="/b" timeout="1"/></Response>',
              "/b": "<Response><Hangup/></Response>"}
    line, events = call(routes, "", tmp_path)
    assert not [e for e in events if e["event"] == "interrupted"]
    assert line.discards == []
