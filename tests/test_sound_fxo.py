"""The sound line's FXO board through gpiozero's MockFactory: rings counted
from the ring detector, the hook relay, a caller who gives up or is declined,
and the far end's hang-up the line asks the call to listen for."""

import asyncio

import pytest

from drivers import LineError, open_line
from drivers.line import HungUp
from sound_card import CARD, card, caller, pins, run  # noqa: F401 - fixtures


async def ring(pin, bursts, gap=0.15):
    """Ring bursts as an optocoupler gives them: a 25 Hz-like pulse train, active low."""
    for _ in range(bursts):
        for _ in range(4):
            pin.drive_low()
            await asyncio.sleep(0.005)
            pin.drive_high()
            await asyncio.sleep(0.005)
        await asyncio.sleep(gap)


def test_rings_are_counted_then_the_relay_goes_off_hook(card, caller, pins):
    async def main():
        line = open_line(f"sound://{CARD}?hook=GPIO17&ring=GPIO27&rings=3&ring_gap=0.05",
                         probe_interval=0.2, pin_factory=pins)
        relay, detector = pins.pin(17), pins.pin(27)
        async with line:
            waiting = asyncio.create_task(line.wait_for_call())
            await ring(detector, 2)
            assert not waiting.done()
            await ring(detector, 1)
            info = await asyncio.wait_for(waiting, 2)
            assert info.rings == 3
            assert relay.state is False
            await line.answer()
            assert relay.state is True
            await line.read_frame()
            await line.hangup()
            assert relay.state is False
            with pytest.raises(HungUp):
                await line.read_frame()
        events = []
        while not line.events.empty():
            events.append(line.events.get_nowait())
        return events

    events = run(main())
    assert [(e.kind, e.value) for e in events] == [("ring", 1), ("ring", 2), ("ring", 3)]


def test_a_caller_who_gives_up_resets_the_ring_count(card, caller, pins):
    async def main():
        line = open_line(f"sound://{CARD}?ring=GPIO27&rings=2&ring_gap=0.05&ring_timeout=0.4", pin_factory=pins)
        detector = pins.pin(27)
        async with line:
            waiting = asyncio.create_task(line.wait_for_call())
            await ring(detector, 1)
            await asyncio.sleep(0.6)  # the caller gave up
            await ring(detector, 1)
            assert not waiting.done()
            await ring(detector, 1)
            info = await asyncio.wait_for(waiting, 2)
        return info

    assert run(main()).rings == 2


def test_a_declined_call_is_let_ring_out_not_answered_again(card, caller, pins):
    """After <Reject> the box hangs up without answering; the same caller's
    ring bursts go on and must not make a new call."""
    async def main():
        line = open_line(f"sound://{CARD}?hook=GPIO17&ring=GPIO27&rings=2&ring_gap=0.05&ring_timeout=0.4",
                         probe_interval=0.2, pin_factory=pins)
        detector = pins.pin(27)
        async with line:
            ringing = asyncio.create_task(ring(detector, 6))
            await asyncio.wait_for(line.wait_for_call(), 3)
            await line.hangup()  # declined: never answered
            nxt = asyncio.create_task(line.wait_for_call())
            await ringing  # bursts 3 to 6
            await asyncio.sleep(0.2)
            assert not nxt.done()
            await asyncio.sleep(0.4)  # the caller has given up
            await ring(detector, 2)
            return await asyncio.wait_for(nxt, 2)

    assert run(main()).rings == 2


@pytest.mark.parametrize("options, tones, silence", [
    ("hook=GPIO17", True, 0.0),
    ("hook=GPIO17&disconnect=off", False, 0.0),
    ("hook=GPIO17&silence=20", True, 20.0),
    ("", False, 0.0),
    ("disconnect=tones", True, 0.0),
])
def test_an_fxo_line_asks_the_call_to_hear_the_far_end_hang_up(options, tones, silence):
    """The exchange does not tell an FXO line that the caller hung up; the line
    asks the call to listen for the tones (the whole call: test_lines_e2e)."""
    line = open_line(f"sound://USB?{options}")
    assert (line.hangup_tones, line.hangup_silence) == (tones, silence)


@pytest.mark.parametrize("url, complaint", [
    ("sound://USB?disconnect=maybe", "sound option disconnect='maybe' must be one of tones, off"),
    ("sound://USB?silence=-1", "sound option silence='-1' must be at least 0"),
    ("sound://USB?silence=long", "sound option silence='long' is not a number"),
    ("sound://USB?silence=inf", "sound option silence='inf' is not a finite number"),
    ("sound://USB?colour=red", r"unknown sound option\(s\) colour: use hook, ring, rings"),
])
def test_bad_disconnect_options_are_clear_errors(url, complaint):
    with pytest.raises(LineError, match=complaint):
        open_line(url)
