"""The sound-card line through real PyAudio on PulseAudio null sinks (see bench/pulse.py);
its FXO pins are in test_sound_fxo.py."""

import asyncio
import time

import numpy as np
import pytest

from drivers import LineError, open_line
from drivers.constants import FRAME_BYTES, FRAME_SAMPLES, FRAME_SECONDS, RATE, SILENCE
from drivers.line import CallInfo
from drivers.resample import Resampler
from drivers.soundcard import MAX_QUEUED_FRAMES, SoundCard, Speaker
from drivers.sounddevices import list_devices, pick_rate
from bench.pulse import Caller, Recorder, active_span, peaks, tone

from sound_card import CARD, card, caller, run  # noqa: F401 - fixtures


async def read_seconds(line, seconds):
    frames = [await line.read_frame() for _ in range(int(seconds / FRAME_SECONDS))]
    return np.frombuffer(b"".join(frames), np.int16)


def sine_frames(freq, seconds, level=8000):
    t = np.arange(int(seconds * RATE)) / RATE
    pcm = (level * np.sin(2 * np.pi * freq * t)).astype(np.int16).tobytes()
    return [pcm[i:i + FRAME_BYTES] for i in range(0, len(pcm), FRAME_BYTES)]


# --- the resampler -----------------------------------------------------------

@pytest.mark.parametrize("rate", [16000, 44100, 48000])
def test_resampler_is_seamless_across_chunks(rate):
    """Chunked conversion equals converting the whole signal at once: no clicks at chunk edges."""
    x = (np.random.default_rng(1).standard_normal(rate) * 3000).astype(np.int16)
    whole_down = Resampler(rate, RATE)(x)
    down = Resampler(rate, RATE)
    chunked = np.concatenate([down(x[i:i + rate // 50]) for i in range(0, rate, rate // 50)])
    assert np.array_equal(chunked, whole_down)
    y = x[:RATE]
    up = Resampler(RATE, rate)
    chunked = np.concatenate([up(y[i:i + FRAME_SAMPLES]) for i in range(0, RATE, FRAME_SAMPLES)])
    assert np.array_equal(chunked, Resampler(RATE, rate)(y))


@pytest.mark.parametrize("rate", [16000, 44100, 48000])
def test_resampler_keeps_the_band_and_rejects_aliases(rate):
    def down(freq):
        t = np.arange(rate) / rate
        x = (10000 * np.sin(2 * np.pi * freq * t)).astype(np.int16)
        r = Resampler(rate, RATE)
        return np.concatenate([r(x[i:i + rate // 50]) for i in range(0, rate, rate // 50)])[400:7600]

    for freq in (697, 1633, 3300):
        y = down(freq)
        assert abs(peaks(y)[0] - freq) < 3
        assert abs(20 * np.log10(y.std() / (10000 / np.sqrt(2)))) < 0.2
    if rate > 9200:  # 5.2 kHz would fold onto 2.8 kHz
        assert down(5200).std() < 10000 / np.sqrt(2) / 300
    t = np.arange(RATE) / RATE
    x = (10000 * np.sin(2 * np.pi * 3300 * t)).astype(np.int16)
    up = Resampler(RATE, rate)
    y = np.concatenate([up(x[i:i + FRAME_SAMPLES]) for i in range(0, RATE, FRAME_SAMPLES)])[rate // 20:]
    assert abs(peaks(y, rate=rate)[0] - 3300) < 3
    spectrum = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    image = np.fft.rfftfreq(len(y), 1 / rate)
    assert spectrum[np.abs(image - 4700) < 100].max() < spectrum.max() / 300


def test_pick_rate_for_a_48k_only_card():
    assert pick_rate([48000], 48000) == 48000
    assert pick_rate([44100], 44100) == 44100
    assert pick_rate([8000, 48000], 48000) == 8000
    assert pick_rate([], 44100) == 44100


# --- the devices -------------------------------------------------------------

def test_list_devices_describes_the_card(card):
    found = [d for d in list_devices() if d["name"] == CARD]
    assert len(found) == 1
    d = found[0]
    assert d["max_input_channels"] > 0 and d["max_output_channels"] > 0
    assert {8000, 48000} <= set(d["rates"])
    assert isinstance(d["index"], int) and d["default_rate"] > 0


def test_unknown_device_is_a_clear_error_listing_what_was_seen(card):
    line = open_line("sound://NoSuchCard")
    with pytest.raises(LineError, match=rf"no sound device matching 'NoSuchCard'.*{CARD}"):
        run(line.open())


@pytest.mark.parametrize("url, complaint", [
    ("sound://USB?rings=0", "sound option rings='0' must be at least 1"),
    ("sound://USB?rings=two", "sound option rings='two' is not an integer"),
    ("sound://USB?ring_active=sideways", "sound option ring_active='sideways' must be one of low, high"),
])
def test_bad_options_are_clear_errors(url, complaint):
    with pytest.raises(LineError, match=complaint):
        open_line(url)


# --- audio both ways ---------------------------------------------------------

@pytest.mark.parametrize("rate", [None, 48000, 44100])
def test_caller_dtmf_reaches_read_frame(card, caller, rate):
    """A '5' played by another process arrives as 770 + 1336 Hz for its 200 ms."""
    async def main():
        line = open_line("sound://TEST_U" + ("" if rate is None else f"?rate={rate}"))
        async with line:
            await line.wait_for_call()
            await line.answer()
            assert line.card.device == CARD
            assert line.card.rate == (rate or RATE)
            await read_seconds(line, 0.2)
            caller.play(bytes(1600) + tone(770, 1336, seconds=0.2))
            heard = await read_seconds(line, 0.8)
            await line.hangup()
        return heard

    heard = run(main())
    start, end = active_span(heard)
    assert 0.17 <= (end - start) / RATE <= 0.23
    low, high = peaks(heard[start + 80:end - 80], 2)
    assert abs(low - 770) < 8 and abs(high - 1336) < 8


@pytest.mark.parametrize("rate", [None, 48000])
def test_what_the_line_plays_is_heard(card, caller, rate):
    """300 ms of 1 kHz written by the box is recorded at 1 kHz, the same level, for 300 ms."""
    async def main():
        recorder = Recorder(f"{CARD}_spk")
        line = open_line(f"sound://{CARD}" + ("" if rate is None else f"?rate={rate}"))
        async with line:
            await line.wait_for_call()
            await line.answer()
            for frame in [SILENCE] * 10 + sine_frames(1000, 0.3) + [SILENCE] * 15:
                await line.write_frame(frame)
            await line.hangup()
        await asyncio.sleep(0.1)
        return recorder.stop()

    played = run(main())
    start, end = active_span(played)
    assert 0.28 <= (end - start) / RATE <= 0.32
    tone_part = played[start + FRAME_SAMPLES:end - FRAME_SAMPLES]
    assert abs(peaks(tone_part)[0] - 1000) < 5
    assert abs(20 * np.log10(tone_part.std() / (8000 / np.sqrt(2)))) < 1


def test_playback_queue_is_bounded_and_a_stop_drops_it(card, caller):
    """A writer going as fast as write_frame lets it is never more than the
    line's latency ahead, and discard_output drops what it queued: a tone
    written for 1 s and then cut plays only what the card had already taken."""
    async def main():
        recorder = Recorder(f"{CARD}_spk")
        line = open_line(f"sound://{CARD}?rate=48000")
        async with line:
            await line.wait_for_call()
            await line.answer()
            for frame in [SILENCE] * 10:
                await line.write_frame(frame)
            start = time.monotonic()
            leads = []
            for i, frame in enumerate(sine_frames(440, 1.0)):
                await line.write_frame(frame)
                leads.append((i + 1) * FRAME_SECONDS - (time.monotonic() - start))
            dropped = line.discard_output()
            for frame in [SILENCE] * 25:
                await line.write_frame(frame)
            budget = line.card.depth * FRAME_SECONDS + line.card.device_latency
            await line.hangup()
        await asyncio.sleep(0.1)
        return max(leads[10:]), budget, dropped, recorder.stop()

    lead, budget, dropped, played = run(main())
    assert budget < 0.25
    assert lead < budget + FRAME_SECONDS
    assert dropped >= 3                     # the writer was ahead of the card, by the queue
    start, end = active_span(played)
    assert (end - start) / RATE == pytest.approx(1.0 - dropped * FRAME_SECONDS, abs=0.025)


def test_hot_unplug_is_reported_and_the_line_recovers(card):
    async def main():
        caller = Caller(card)
        line = open_line(f"sound://{CARD}?rate=48000&probe_interval=0.2")
        async with line:
            await line.wait_for_call()
            await line.answer()
            await read_seconds(line, 0.2)
            card.unplug()
            caller.stop()
            unplugged = time.monotonic()
            with pytest.raises(LineError, match="unplugged"):
                await read_seconds(line, 10)
            reported = time.monotonic() - unplugged
            await line.hangup()

            waiting = asyncio.create_task(line.wait_for_call())
            await asyncio.sleep(1.0)
            assert not waiting.done()  # still re-probing: the card is not back
            card.plug()
            caller = Caller(card)
            await asyncio.wait_for(waiting, 5)
            await line.answer()
            await read_seconds(line, 0.2)
            caller.play(tone(1000, seconds=0.3))
            heard = await read_seconds(line, 0.6)
            await line.hangup()
        caller.stop()
        return reported, heard

    reported, heard = run(main(), timeout=30)
    assert reported < 4
    start, end = active_span(heard)
    assert end - start > 0.25 * RATE
    assert abs(peaks(heard[start + 80:end - 80])[0] - 1000) < 10


def test_speaker_plays_through_a_named_device(card, caller):
    async def main():
        recorder = Recorder(f"{CARD}_spk")
        speaker = Speaker(CARD)
        await speaker.open()
        for frame in [SILENCE] * 5 + sine_frames(600, 0.2) + [SILENCE] * 10:
            await speaker.write_frame(frame)
        await speaker.close()
        await speaker.close()
        await asyncio.sleep(0.1)
        return recorder.stop()

    played = run(main())
    start, end = active_span(played)
    assert 0.18 <= (end - start) / RATE <= 0.22
    assert abs(peaks(played[start + 80:end - 80])[0] - 600) < 5


def test_no_pins_means_the_call_is_there_at_once(card, caller):
    """Without an FXO board (a plain USB handset) nothing rings: wait_for_call
    opens the card and returns a call with no rings and no caller ID."""
    async def main():
        async with open_line(f"sound://{CARD}") as line:
            info = await line.wait_for_call()
            card_open, reported = line.card.is_open, line.events.qsize()
            await line.answer()
            frame = await line.read_frame()
            await line.hangup()
        return info, card_open, reported, frame

    info, card_open, reported, frame = run(main())
    assert info == CallInfo() and card_open
    assert reported == 0  # no ring events
    assert len(frame) == FRAME_BYTES


def test_audio_heard_while_nobody_reads_is_capped_at_a_second(card, caller):
    """A sound line waiting for rings hears the card all along; what it keeps must not grow."""
    async def main():
        sound = SoundCard(CARD)
        await sound.open()
        try:
            await asyncio.sleep(2.5)
            held = sum(len(period) for period in sound._raw) // 2 * RATE // sound.rate // FRAME_SAMPLES
            frame = await sound.read_frame()
        finally:
            await sound.close()
        return held, frame

    held, frame = run(main())
    assert held == MAX_QUEUED_FRAMES
    assert len(frame) == FRAME_BYTES


def test_frames_dropped_unread_in_a_call_are_counted_for_the_echo_canceller(card, caller):
    """A call whose reader falls a second behind loses the oldest frames; the
    canceller is told, so its count of frames heard keeps to the card's time."""
    async def main():
        async with open_line(f"sound://{CARD}?echo=on") as line:
            await line.wait_for_call()
            await line.answer()
            at_answer = line.card.dropped
            await line.read_frame()
            await asyncio.sleep(1.6)
            await line.read_frame()
            counted, dropped = line.canceller._heard_count, line.card.dropped - at_answer
            await line.hangup()
        return counted, dropped

    counted, dropped = run(main())
    assert 20 <= dropped <= 40  # 1.6 s of 20 ms frames, less the 50 the card keeps
    assert counted == 2 + dropped  # the two read, and those lost between them


@pytest.mark.parametrize("side", ["read", "write"])
def test_a_reader_or_writer_cancelled_as_the_card_answers_stops(card, caller, side):
    """FramePump.stop cancels the pump while the card's thread may be handing it
    a frame (or room to write) in the same loop pass. With asyncio.wait_for on
    Python 3.11 the cancel was swallowed and the pump ran on after its call:
    the sound line never took another call. The cancel must win every time."""
    async def main():
        sound = SoundCard(CARD)
        await sound.open()
        swallowed = 0
        try:
            for _ in range(20):
                if side == "read":
                    sound.drain()
                    task = asyncio.create_task(sound.read_frame())
                else:
                    while len(sound._out) < sound.depth:
                        await sound.write_frame(SILENCE)
                    task = asyncio.create_task(sound.write_frame(SILENCE))
                await asyncio.sleep(0)
                if task.done():  # the card got there first; try again
                    continue
                if side == "read":  # what the capture callback does for a waiting reader
                    sound._frames.append(SILENCE)
                    sound._heard_event.set()
                else:
                    sound._room.set()
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
                swallowed += not task.cancelled()
        finally:
            await sound.close()
        return swallowed

    assert run(main()) == 0


def test_callbacks_keep_one_thread_state_per_stream_and_a_closed_card_frees_them(card, caller):
    """PyAudio's callbacks enter Python from PortAudio's threads; each keeps one
    thread state for its stream's life (not one made and freed per callback),
    and closing the card frees them: calls after calls leave none behind."""
    from drivers.thread_state import thread_states

    async def frames(line, n=10):  # 200 ms: a few capture and playback callbacks each
        for _ in range(n):
            await line.read_frame()
            await line.write_frame(SILENCE)
        return line.card._hear_state._state, line.card._play_state._state

    async def one_call():
        line = open_line(f"sound://{CARD}")
        async with line:
            await line.wait_for_call()
            await line.answer()
            kept = await frames(line)
            again = await frames(line)
            await line.hangup()
        return kept, again

    before = thread_states()
    calls = [run(one_call()) for _ in range(3)]
    assert thread_states() == before
    for kept, again in calls:
        assert all(kept) and kept == again
