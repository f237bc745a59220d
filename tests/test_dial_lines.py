"""<Dial> on real lines: the FXO sound line on a PulseAudio null-sink card with gpiozero's
MockFactory (the hook flash on the relay pin, dial tone, the number as DTMF through the card,
ringback or busy from the exchange), and lines with no outside line (console, kiosk)."""

import asyncio
import threading
import time

import numpy as np
import pytest

from bench.twiml_server import TwimlServer
from firmware_app.commands.run import serve
from firmware_app.config import load
from firmware_app.listen.dtmf import DtmfDetector

ROUTES = {
    "/start": ('<Response><Say>Transferring</Say><Dial action="/after" timeout="20">'
               "<Number>4158675309</Number></Dial><Say>never</Say></Response>"),
    "/after": "<Response><Say>Back with you</Say><Hangup/></Response>",
}


class HookWatch:
    """Records the relay pin's changes (time, state), polling it as an FXO board's loop would see them."""

    def __init__(self, pin) -> None:
        self.pin, self.changes, self.running = pin, [], True
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()

    def _watch(self) -> None:
        last = self.pin.state
        while self.running:
            if self.pin.state != last:
                last = self.pin.state
                self.changes.append((time.monotonic(), bool(last)))
            time.sleep(0.002)

    def flashes(self) -> list[float]:
        """Seconds of each on-hook spell that ended off hook again."""
        return [b[0] - a[0] for a, b in zip(self.changes, self.changes[1:]) if not a[1] and b[1]]

    def stop(self) -> None:
        self.running = False
        self.thread.join()


def digits_in(samples: np.ndarray) -> str:
    detector = DtmfDetector()
    return "".join(k for i in range(0, len(samples) - 159, 160) for k in detector.feed(samples[i:i + 160]))


@pytest.mark.parametrize("far_end, status, flashes", [("ringback", "completed", 1), ("busy", "busy", 2)])
def test_an_fxo_line_flashes_dials_and_hears_the_far_end(far_end, status, flashes):
    from gpiozero.pins.mock import MockFactory

    from drivers import open_line
    from bench.pulse import Caller, Recorder, fake_card, tone, unique

    pins = MockFactory()
    with TwimlServer(ROUTES) as server, fake_card(unique("ivrtest_dial_fxo")) as card:
        caller, recorder = Caller(card), Recorder(f"{card.name}_spk")
        config = load(None)
        config["server"]["url"] = server.url("/start")
        line = open_line(f"sound://{card.name}?hook=GPIO17&flash_ms=400", pin_factory=pins)
        hook = HookWatch(pins.pin(17))
        dial_tone = tone(350, 440, seconds=1.4, volume=0.1)
        quiet = bytes(3 * 16000)
        if far_end == "ringback":
            after = (tone(440, 480, seconds=2.0, volume=0.1) + bytes(4 * 16000)) * 2
        else:
            after = (tone(480, 620, seconds=0.5, volume=0.1) + bytes(8000)) * 8

        def exchange():  # the exchange answers the flash with dial tone, then the far end
            while hook.running and not hook.flashes():
                time.sleep(0.005)
            caller.play(dial_tone + quiet + after)

        threading.Thread(target=exchange, daemon=True).start()
        events, result = [], {}
        daemon = threading.Thread(target=lambda: result.setdefault(
            "calls", asyncio.run(serve(config, calls=1, line=line, sinks=[events.append]))))
        daemon.start()
        daemon.join(60)
        hook.stop()
        caller.stop()
        heard = recorder.stop()
    assert not daemon.is_alive() and result["calls"] == 1
    dial = next(e for e in events if e["event"] == "dial")
    assert (dial["number"], dial["status"]) == ("4158675309", status), events
    assert server.requests[-1].path == "/after" and server.requests[-1].params["DialCallStatus"] == status
    assert len(hook.flashes()) == flashes and all(0.35 <= f <= 0.55 for f in hook.flashes()), hook.changes
    # The number went down the line as DTMF (a sound-server underrun under load can split one
    # tone in two: a repeat is collapsed, which is why the number has no key twice in a row).
    keys = digits_in(heard)
    assert "".join(k for i, k in enumerate(keys) if keys[i - 1:i] != k) == "4158675309"
    said = [e["text"] for e in events if e["event"] == "say"]
    assert said == (["Transferring"] if status == "completed" else ["Transferring", "Back with you"])
    assert pins.pin(17).state is False  # on hook at the end: handed over, or hung up after "Back with you"


@pytest.mark.parametrize("url", ["console:", "kiosk"])
def test_lines_with_no_outside_line_fail_the_dial_with_a_warning(url, tmp_path):
    from gpiozero.pins.mock import MockFactory

    from drivers.console import ConsoleLine
    from drivers.kiosk import KioskLine
    from firmware_app.call import Call
    from firmware_app.twiml.channel import DialRequest

    line = ConsoleLine() if url == "console:" else KioskLine("nocard", keypad="rows:5,6,13,19;cols:12,16,20",
                                                               hook="GPIO22", pin_factory=MockFactory())
    assert not line.can_transfer
    config = load(None)
    events = []
    call = Call(line, config, fetcher=None, sinks=[events.append])

    async def dial():
        from firmware_app.transfer import Transfer
        return await Transfer(call.pump, call.emit).run(DialRequest("4158675309"))

    outcome = asyncio.run(dial())
    assert outcome.status == "failed" and "no outside line" in outcome.reason


@pytest.mark.parametrize("flash", [True, False])
def test_a_voice_modem_flashes_and_dials_with_its_own_commands(flash):
    """The modem line against the fake modem on a pty: ATD!; flashes, AT+VTS dials, the
    stream restarts between them so the box hears dial tone and ringback; a modem without
    the flash modifier answers ERROR and the dial fails with a warning, the call going on."""
    from fake_modem import FakeModem
    from modem_audio import tone

    with TwimlServer(ROUTES) as server, FakeModem("usr5637", flash=flash) as modem:
        config = load(None)
        config["server"]["url"] = server.url("/start")
        config["line"]["url"] = f"modem://{modem.path}?rings=2&at_timeout=0.5&keepalive=0"
        events, result = [], {}
        daemon = threading.Thread(target=lambda: result.setdefault(
            "calls", asyncio.run(serve(config, calls=1, sinks=[events.append]))))
        daemon.start()
        time.sleep(0.5)
        modem.ring(2, cid=["DATE = 1124", "TIME = 2005", "NMBR = 2125551234", "NAME = ALICE"])

        def wait_for(predicate, seconds=15.0):
            end = time.monotonic() + seconds
            while not predicate() and time.monotonic() < end and daemon.is_alive():
                time.sleep(0.01)
            return predicate()

        if flash:
            assert wait_for(lambda: modem.flashes == 1 and modem.streaming)
            # Dial tone goes on until the box dials, as an exchange's does; the echo canceller
            # (on by default on a modem line) holds the first of it while it still learns.
            modem.play(tone((350, 440), 3000, level=3000), paced=True)
            assert wait_for(lambda: len(modem.dialled) == 10 and modem.streaming)
            modem.play(tone((440, 480), 2000, level=3000) + bytes(16000), paced=True)
        daemon.join(30)
    assert not daemon.is_alive() and result["calls"] == 1
    first = server.requests[0].params
    assert (first["From"], first["CallerName"], first["FromCountry"], first["FromState"]) == (
        "2125551234", "ALICE", "US", "NY")
    after = server.requests[-1]
    assert after.path == "/after"
    said = [e["text"] for e in events if e["event"] == "say"]
    if flash:
        assert modem.dialled == "4158675309"
        assert after.params["DialCallStatus"] == "completed" and said == ["Transferring"]
    else:
        assert modem.flashes == 0 and modem.dialled == ""
        assert after.params["DialCallStatus"] == "failed" and said == ["Transferring", "Back with you"]
        warning = next(e["message"] for e in events if e["event"] == "warning" and "4158675309" in e["message"])
        assert "flash" in warning and "ERROR" in warning
    assert not modem.offhook
