"""Hostile and odd audio through `ivrbox simulate` (served by a real local HTTP
server) and `ivrbox dtmf`: a clear warning or error, no traceback, the call
going on, and the box's peak memory measured (the peak RSS its own launcher sees) under a bound."""

import subprocess

import pytest

from bench.hostile_media import dtmf_wav, flac_silence, wav
from bench.measured import run_measured
from simulate import IVRBOX, of
from bench.twiml_server import TwimlServer

PEAK_MB = 120
KEYS = "159#"


def play_call(tmp_path, audio: bytes, *args: str, config: str = "", content_type="audio/wav"):
    """A call that plays AUDIO between two <Say>s; returns (events, measured run)."""
    import json

    routes = {"/ivr": "<Response><Say>before</Say><Play>/audio</Play><Say>after</Say></Response>",
              "/audio": (200, {"Content-Type": content_type}, audio)}
    cmd = [IVRBOX, "simulate", "", "--max-seconds", "900", *args]
    if config:
        path = tmp_path / "config.toml"
        path.write_text(config)
        cmd += ["--config", str(path)]
    with TwimlServer(routes) as server:
        cmd[2] = server.url("/ivr")
        run = run_measured(cmd)
    assert run.returncode == 0 and "Traceback" not in run.stderr, run.stderr
    assert run.peak_mb < PEAK_MB, f"peak RSS {run.peak_mb:.0f} MB"
    return [json.loads(line) for line in run.stdout.splitlines()], run


def said(events) -> list[str]:
    return [e["text"] for e in of(events, "say")]


def test_ten_hours_of_flac_silence_stops_at_the_duration_cap(tmp_path):
    events, _ = play_call(tmp_path, flac_silence(36000), content_type="audio/flac")
    play = of(events, "play")[0]
    warning = next(e for e in of(events, "warning") if "600 s limit" in e["message"])
    assert warning["t"] == pytest.approx(play["t"] + 600, abs=0.05)
    assert said(events) == ["before", "after"]


@pytest.mark.parametrize("seconds,cut", [(5.0, False), (5.02, True)])
def test_the_duration_cap_is_configurable_and_exact(tmp_path, seconds, cut):
    events, _ = play_call(tmp_path, flac_silence(seconds), config="[media]\nmax_play_seconds = 5.0\n",
                          content_type="audio/flac")
    warnings = [e for e in of(events, "warning") if "5 s limit" in e["message"]]
    assert bool(warnings) == cut
    play, after = of(events, "play")[0], of(events, "say")[1]
    assert after["t"] - play["t"] == pytest.approx(5.0, abs=0.03)


@pytest.mark.parametrize("rate,ok", [(1, False), (3999, False), (4000, True), (384000, True), (384001, False)])
def test_declared_sample_rates_outside_4k_to_384k_are_refused(tmp_path, rate, ok):
    audio = wav(bytes(max(2, rate // 10) * 2), rate=rate)  # a tenth of a second, as declared
    if rate == 1:
        audio = wav(bytes(100_000), rate=1)  # 100 KB declaring 1 Hz: 14 hours if upsampled
    events, _ = play_call(tmp_path, audio)
    errors = of(events, "error")
    if ok:
        assert not errors and of(events, "play")
    else:
        assert [e["code"] for e in errors] == [12300]
        assert f"sample rate of {rate} Hz" in errors[0]["message"] and "4000 to 384000" in errors[0]["message"]
    assert said(events) == ["before", "after"]


def test_the_rate_limits_are_configurable(tmp_path):
    events, _ = play_call(tmp_path, wav(bytes(1600), rate=8000), config="[media]\nmin_sample_rate = 16000\n")
    assert "sample rate of 8000 Hz" in of(events, "error")[0]["message"]


def test_a_wav_with_an_unknown_format_tag_is_a_clear_error(tmp_path):
    events, _ = play_call(tmp_path, wav(bytes(16000), tag=0x1234))
    (error,) = of(events, "error")
    assert error["code"] == 12300 and "format tag 0x1234" in error["message"]
    assert said(events) == ["before", "after"]


@pytest.mark.parametrize("channels", [1, 2, 3, 4, 6, 8])
@pytest.mark.parametrize("only", [None, 0, "last"])
def test_any_channel_count_mixes_down_so_dtmf_is_heard_through_play(tmp_path, channels, only):
    only = channels - 1 if only == "last" else only
    record = tmp_path / "box.wav"
    events, _ = play_call(tmp_path, dtmf_wav(KEYS, channels, only=only), "--record", str(record))
    assert of(events, "play") and not of(events, "error")
    heard = subprocess.run([IVRBOX, "dtmf", str(record)], capture_output=True, text=True, timeout=60)
    assert heard.stdout.strip() == KEYS


@pytest.mark.parametrize("budget,kept", [(16_000, True), (15_999, False)])
def test_decoded_audio_is_cached_within_its_byte_budget(budget, kept):
    """A second of audio is 16,000 bytes decoded: kept at that budget, not one byte under."""
    import asyncio
    from contextlib import nullcontext

    from firmware_app.config import defaults
    from firmware_app.speak.player import Player
    from firmware_app.speak.speaker import Speaker
    from firmware_app.speak.tts import Synthesizer

    audio = wav(bytes(48000 * 6 * 2), rate=48000, channels=6)  # one second of 6-channel silence
    events = []

    async def play(speaker, player):
        task = asyncio.create_task(speaker.audio("http://example.com/a.wav", audio))
        frames = 0
        while not task.done():
            await asyncio.sleep(0)
            frames += player.buffered > 0
            player.next_frame()
        return frames

    async def run():
        player, tts = Player(), Synthesizer(audio_cache_bytes=budget)
        speaker = Speaker(player, tts, defaults(), lambda name, **f: events.append(name), nullcontext)
        first = await play(speaker, player)
        size = tts.audio_cache.size
        again = await play(speaker, player)
        return first, again, size

    first, again, size = asyncio.run(run())
    assert first == again == 50 and events == ["play", "play"]
    assert size == (16_000 if kept else 0)


@pytest.mark.parametrize("channels", [3, 6])
def test_ivrbox_dtmf_hears_multichannel_files(tmp_path, channels):
    path = tmp_path / f"{channels}ch.wav"
    path.write_bytes(dtmf_wav(KEYS, channels))
    result = run_measured([IVRBOX, "dtmf", str(path)])
    assert (result.returncode, result.stdout) == (0, KEYS + "\n")


def test_ivrbox_dtmf_streams_a_long_file_in_bounded_memory(tmp_path):
    path = tmp_path / "long.flac"
    path.write_bytes(flac_silence(36000))
    result = run_measured([IVRBOX, "dtmf", str(path)], timeout=300)
    assert (result.returncode, result.stdout) == (0, "\n")
    assert result.peak_mb < PEAK_MB


@pytest.mark.parametrize("content,message", [
    (wav(bytes(16000), tag=0x1234), "format tag 0x1234"),
    (wav(bytes(100), rate=1), "sample rate of 1 Hz"),
    (None, "is a directory"),
])
def test_ivrbox_dtmf_bad_input_is_a_clear_error(tmp_path, content, message):
    path = tmp_path
    if content is not None:
        path = tmp_path / "x.wav"
        path.write_bytes(content)
    result = run_measured([IVRBOX, "dtmf", str(path)])
    assert result.returncode == 1
    assert message in result.stderr and "Traceback" not in result.stderr
