"""Whole calls through `ivrbox run`'s daemon loop on a real driver: the voice
modem (real pyserial on a pty against the fake modem) and a real TwiML server."""

import asyncio
import threading
import time

import numpy as np

from fake_modem import FakeModem
from firmware_app.commands.run import serve
from firmware_app.config import load
from bench.twiml_server import TwimlServer


def wait_for(predicate, timeout=10.0):
    end = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.02)


def test_a_modem_call_answers_after_rings_and_counts_each_key_once():
    routes = {
        "/start": '<Response><Gather numDigits="2" action="/next"><Say>Enter two digits</Say></Gather></Response>',
        "/next": "<Response><Say>Thanks</Say><Hangup/></Response>",
    }
    with TwimlServer(routes) as server, FakeModem("usr5637") as modem:
        config = load(None)
        config["server"]["url"] = server.url("/start")
        config["line"]["url"] = f"modem://{modem.path}?rings=2&at_timeout=0.5&keepalive=0"
        result = {}
        daemon = threading.Thread(target=lambda: result.setdefault("calls", asyncio.run(serve(config, calls=1))))
        daemon.start()
        time.sleep(0.5)
        modem.ring(2, cid=["DATE = 1124", "TIME = 2005", "NMBR = 5551234", "NAME = ALICE"])
        wait_for(lambda: len(server.requests) == 1 and modem.streaming)
        # Each key arrives twice: as a tone in the audio and as the modem's <DLE>digit report.
        modem.dtmf("4")
        time.sleep(0.3)
        modem.dtmf("2")
        daemon.join(20)
        assert not daemon.is_alive()
    assert result["calls"] == 1
    first, second = server.requests
    assert first.params["From"] == "5551234" and first.params["CallStatus"] == "ringing"
    assert second.path == "/next" and second.params["Digits"] == "42"
    assert len(modem.received) > 8000  # the box spoke to the caller through the modem
    assert not modem.offhook  # and hung up after <Hangup/>


def test_a_sound_card_call_hears_in_band_dtmf_and_speaks_through_the_card():
    """The USB-audio line on a PulseAudio null-sink card: a second process is
    the caller, keys travel as tones through PyAudio, the resampler and the
    box's own detector; a recorder hears the box's prompt on the card."""
    from bench.pulse import Caller, Recorder, fake_card, tone, unique

    routes = {
        "/start": ('<Response><Gather numDigits="1" action="/next" timeout="8">'
                   "<Say>Press a key</Say></Gather></Response>"),
        "/next": "<Response><Say>Thanks</Say><Hangup/></Response>",
    }
    with TwimlServer(routes) as server, fake_card(unique("ivrtest_e2e")) as card:
        caller, recorder = Caller(card), Recorder(f"{card.name}_spk")
        config = load(None)
        config["server"]["url"] = server.url("/start")
        config["line"]["url"] = f"sound://{card.name}"
        result = {}
        daemon = threading.Thread(target=lambda: result.setdefault("calls", asyncio.run(serve(config, calls=1))))
        daemon.start()
        try:
            wait_for(lambda: len(server.requests) == 1)
            time.sleep(1.5)  # into the prompt: the key barges in
            caller.play(tone(770, 1477, seconds=0.12, volume=0.3))  # '6'
            daemon.join(20)
        finally:
            caller.stop()
            heard = recorder.stop()
    assert not daemon.is_alive() and result["calls"] == 1
    assert server.requests[1].params["Digits"] == "6"
    blocks = heard[: len(heard) // 80 * 80].reshape(-1, 80).astype(float)
    loud = (np.sqrt((blocks ** 2).mean(axis=1)) > 300).sum()
    assert loud >= 50, loud  # at least half a second of the box's voice, in 10 ms blocks


def test_a_kiosk_call_starts_on_lift_takes_keypad_digits_and_ends_on_replace():
    """The lobby kiosk through gpiozero's MockFactory and a null-sink handset card."""
    from gpiozero.pins.mock import MockFactory

    from drivers import open_line
    from bench.pulse import Caller, fake_card, unique
    from test_kiosk import COLS3, ROWS, Matrix, bounce

    routes = {
        "/start": '<Response><Gather numDigits="2" action="/next" timeout="8"><Say>Welcome</Say></Gather></Response>',
        "/next": '<Response><Gather timeout="30"><Say>Thanks</Say></Gather></Response>',
    }
    pins = MockFactory()
    try:
        matrix = Matrix(pins, ROWS, COLS3, "123456789*0#")
        hook = pins.pin(22)
        with TwimlServer(routes) as server, fake_card(unique("ivrtest_e2e_kiosk")) as card:
            caller = Caller(card)  # the handset microphone: a card that is plugged in delivers audio
            config = load(None)
            config["server"]["url"] = server.url("/start")
            line = open_line(f"kiosk://{card.name}?keypad=rows:5,6,13,19;cols:12,16,20&hook=GPIO22&led=GPIO23"
                             "&settle=0.03", pin_factory=pins)
            result = {}
            daemon = threading.Thread(
                target=lambda: result.setdefault("calls", asyncio.run(serve(config, calls=1, line=line))))
            daemon.start()
            time.sleep(1.0)
            assert server.requests == []  # nothing happens while the handset rests
            bounce(hook, True)  # lift
            wait_for(lambda: len(server.requests) == 1)
            matrix.press("4")
            matrix.press("7")
            wait_for(lambda: len(server.requests) == 2)
            bounce(hook, False)  # replace, mid-gather
            daemon.join(20)
            caller.stop()
    finally:
        pins.reset()
    assert not daemon.is_alive() and result["calls"] == 1
    assert server.requests[1].params["Digits"] == "47"


def test_busy_tone_after_the_caller_hangs_up_ends_a_sound_line_call():
    """On an FXO line the exchange plays busy tone when the caller hangs up.
    The line asks for it (hangup_tones) and the call's frame pump hears it
    after three bursts: the call ends as the caller's hang-up, with the reason,
    long before its gather would time out, and the relay goes back on hook."""
    from gpiozero.pins.mock import MockFactory

    from drivers import open_line
    from bench.pulse import Caller, fake_card, tone, unique

    routes = {"/start": '<Response><Gather timeout="30"><Say>Please hold</Say></Gather></Response>'}
    pins = MockFactory()
    events = []
    with TwimlServer(routes) as server, fake_card(unique("ivrtest_e2e_fxo")) as card:
        caller = Caller(card)
        config = load(None)
        config["server"]["url"] = server.url("/start")
        line = open_line(f"sound://{card.name}?hook=GPIO17", pin_factory=pins)
        burst = tone(480, 620, seconds=0.5, volume=0.1)

        def sink(event):
            events.append(event)
            if event["event"] == "say":  # the caller hangs up as the prompt starts
                caller.play((burst + bytes(len(burst))) * 6)

        result = {}
        daemon = threading.Thread(
            target=lambda: result.setdefault("calls", asyncio.run(serve(config, calls=1, line=line, sinks=[sink]))))
        daemon.start()
        daemon.join(30)
        caller.stop()
    assert not daemon.is_alive() and result["calls"] == 1
    said = next(e for e in events if e["event"] == "say")
    hangup = events[-1]
    assert hangup["event"] == "hangup" and hangup["by"] == "caller" and hangup.get("reason") == "busy", events
    # Three bursts of 0.5 s on, 0.5 s off: 2.5 s of call time, plus the fake
    # caller's way through PulseAudio; the tone itself goes on for 6 s.
    # The echo canceller (on by default on an FXO line) mutes what arrives while
    # the box still speaks its prompt, so the first busy burst may go unheard.
    assert 2.5 <= hangup["t"] - said["t"] <= 5.0, (said, hangup)
    assert not [e for e in events if e["event"] == "gather"]  # ended before the gather timed out
    assert pins.pin(17).state is False  # the box went back on hook
