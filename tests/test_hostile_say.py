"""Limits on <Say> and <Play digits>, each at the limit; speech that starts at
once whatever the length; caches bounded in bytes; bounded memory."""

import asyncio
import json
from contextlib import nullcontext

import pytest

from bench.hostile_media import long_text
from firmware_app.config import defaults
from firmware_app.speak.player import AHEAD, Player
from firmware_app.speak.speaker import Speaker
from firmware_app.speak.ssml import FIRST_PIECE, PIECE, segments
from firmware_app.speak.tts import Synthesizer
from bench.measured import run_measured
from simulate import IVRBOX, of
from bench.twiml_server import TwimlServer

PEAK_MB = 120


def call(tmp_path, twiml: str, config: str = "", *args: str):
    routes = {"/ivr": f"<Response>{twiml}<Say>after</Say></Response>"}
    cmd = [IVRBOX, "simulate", "", *args]
    if config:
        (tmp_path / "c.toml").write_text(config)
        cmd += ["--config", str(tmp_path / "c.toml")]
    with TwimlServer(routes) as server:
        cmd[2] = server.url("/ivr")
        run = run_measured(cmd, timeout=300)
    assert run.returncode == 0 and "Traceback" not in run.stderr, run.stderr
    assert run.peak_mb < PEAK_MB, f"peak RSS {run.peak_mb:.0f} MB"
    events = [json.loads(line) for line in run.stdout.splitlines()]
    assert of(events, "say")[-1]["text"] == "after"  # the call went on
    return events


def over_limit(events) -> list[str]:
    return [e["message"] for e in of(events, "warning") if "limit" in e["message"]]


@pytest.mark.parametrize("length,cut", [(4096, False), (4097, True)])
def test_say_text_is_cut_at_twilios_4096_characters(tmp_path, length, cut):
    text = long_text(length).replace(" ", "x")  # no spaces to collapse: length is exact
    events = call(tmp_path, f"<Say>{text}</Say>")
    said = of(events, "say")[0]["text"]
    assert said == text[:4096]
    assert bool(over_limit(events)) == cut


def test_the_say_limit_is_configurable(tmp_path):
    events = call(tmp_path, "<Say>Hello there, caller</Say>", "[media]\nmax_say_characters = 11\n")
    assert of(events, "say")[0]["text"] == "Hello there"
    assert over_limit(events) == ["<Say> text is over Twilio's 11-character limit; "
                                  "speaking the first 11 characters and dropping the rest"]


def test_a_60_kb_say_is_cut_and_spoken_in_bounded_memory(tmp_path):
    text = long_text(60 * 1024)
    events = call(tmp_path, f"<Say>{text}</Say>")
    assert len(of(events, "say")[0]["text"]) <= 4096 and over_limit(events)


@pytest.mark.parametrize("length,cut", [(1000, False), (1001, True)])
def test_play_digits_are_cut_at_the_limit(tmp_path, length, cut):
    events = call(tmp_path, f'<Play digits="{"1" * (length - 1)}w"/>', "", "--max-seconds", "900")
    assert len(of(events, "play")[0]["digits"]) == 1000
    assert bool(over_limit(events)) == cut


def test_ten_thousand_pauses_play_in_bounded_memory(tmp_path):
    events = call(tmp_path, f'<Play digits="{"w" * 10_000}"/>', "[media]\nmax_play_digits = 10000\n",
                  "--max-seconds", "6000")
    play, after = of(events, "play")[0], of(events, "say")[-1]
    assert after["t"] - play["t"] == pytest.approx(5000, abs=0.1)
    assert not over_limit(events)


def test_digits_are_made_as_they_play_never_more_than_a_few_seconds_ahead():
    async def run():
        player = Player()
        speaker = Speaker(player, Synthesizer(), defaults(), lambda *a, **k: None, nullcontext)
        playing = asyncio.create_task(speaker.digits("w" * 1000))
        most = 0
        while not playing.done():
            await asyncio.sleep(0)
            most = max(most, player.buffered)
            player.next_frame()
        return most

    assert 0 < asyncio.run(run()) <= AHEAD + 8000  # ten seconds, plus the one 'w' being added


@pytest.mark.parametrize("text", [long_text(10), long_text(1000), long_text(4096),
                                  "x" * 4096, ("word " * 900)[:4096], "One. " * 800])
def test_the_first_piece_is_short_whatever_the_length(text):
    parts = segments(text, 4096)
    assert len(segments(parts.pieces[0], 4096).plain) <= FIRST_PIECE
    assert all(len(segments(p, 4096).plain) <= PIECE for p in parts.pieces)
    said = [segments(p, 4096).plain for p in parts.pieces]
    if " " in text.strip():
        assert " ".join(said).split() == text.split()  # no word is cut in two
    else:
        assert "".join(said) == text


def test_speech_starts_after_one_piece_is_synthesised():
    tts = Synthesizer()
    pieces = segments(long_text(4096), 4096).pieces

    async def first():
        stream = tts.stream(pieces, "en-us")
        pcm = await anext(stream)
        await stream.aclose()
        return pcm

    assert len(pieces) > 10
    assert asyncio.run(first()) and tts.runs == 1


def test_the_speech_cache_is_bounded_in_bytes():
    tts = Synthesizer(cache_bytes=200_000)

    async def say(n):
        return b"".join([pcm async for pcm in tts.stream(segments(f"Number {n}.", 100).pieces, "en-us")])

    async def run():
        sizes = [len(await say(n)) for n in range(20)]
        runs = tts.runs
        await say(19)  # the newest is kept
        return sizes, runs

    sizes, runs = asyncio.run(run())
    assert sum(sizes) > 200_000 >= tts.cache.size > 0
    assert tts.runs == runs == 20
    assert len(tts.cache) < 20
