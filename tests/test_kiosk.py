"""The GPIO kiosk through gpiozero's MockFactory (pin edges, bounce included),
handed to each device as its pin_factory, with the handset's audio on a
PulseAudio null-sink card (see bench/pulse.py)."""

import asyncio
import threading
import time

import pytest
from gpiozero.pins.mock import MockFactory, MockPin

from drivers import LineError, open_line
from drivers.constants import SILENCE
from drivers.hook import HookSwitch
from drivers.keypad import KeypadError, MatrixKeypad, parse_keypad
from drivers.line import HungUp
from bench.pulse import Caller, fake_card, unique

CARD = unique("ivrtest_kiosk")
ROWS, COLS3, COLS4 = [5, 6, 13, 19], [12, 16, 20], [12, 16, 20, 21]
URL = f"kiosk://{CARD}?keypad=rows:5,6,13,19;cols:12,16,20&hook=GPIO22&led=GPIO23&settle=0.03"


class RowPin(MockPin):
    """A row output whose level the matrix passes to the columns of pressed keys."""

    def __init__(self, factory, info, matrix=None):
        self.matrix = matrix
        super().__init__(factory, info)

    def _change_state(self, value):
        changed = super()._change_state(value)
        if self.matrix is not None and self.function == "output":
            self.matrix.update()
        return changed


class Matrix:
    """The keypad's wiring: a pressed key joins its row to its column."""

    def __init__(self, factory, rows, cols, keys):
        self.cols = [factory.pin(c) for c in cols]
        self.rows = [factory.pin(r, pin_class=RowPin, matrix=self) for r in rows]
        self.where = {keys[r * len(cols) + c]: (r, c)
                      for r in range(len(rows)) for c in range(len(cols))}
        self.pressed = set()
        self.lock = threading.RLock()

    def update(self):
        with self.lock:
            for c, col in enumerate(self.cols):
                if col.function != "input":
                    continue
                low = any(self.rows[r].function == "output" and not self.rows[r].state
                          for r, cc in map(self.where.get, self.pressed) if cc == c)
                col.drive_low() if low else col.drive_high()

    def set(self, key, down):
        with self.lock:
            (self.pressed.add if down else self.pressed.discard)(key)
            self.update()

    def press(self, key, bounces=4, hold=0.1):
        for _ in range(bounces):
            self.set(key, True)
            time.sleep(0.002)
            self.set(key, False)
            time.sleep(0.002)
        self.set(key, True)
        time.sleep(hold)
        for _ in range(bounces):
            self.set(key, False)
            time.sleep(0.002)
            self.set(key, True)
            time.sleep(0.002)
        self.set(key, False)


def until(predicate, timeout=2.0):
    """Wait for the scanning thread, however loaded the machine is."""
    end = time.monotonic() + timeout
    while not predicate() and time.monotonic() < end:
        time.sleep(0.005)


def bounce(pin, final_low, edges=5):
    """A contact burst ending at the given level: low-high-low-... every 2 ms."""
    level = not final_low if edges % 2 == 0 else final_low
    for _ in range(edges):
        pin.drive_low() if level else pin.drive_high()
        level = not level
        time.sleep(0.002)
    pin.drive_low() if final_low else pin.drive_high()


@pytest.fixture
def pins():
    factory = MockFactory()
    yield factory
    factory.reset()


@pytest.fixture(scope="module")
def card():
    with fake_card(CARD) as c:
        caller = Caller(c)
        yield c
        caller.stop()


def run(coro, timeout=20):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def drain(line):
    events = []
    while not line.events.empty():
        e = line.events.get_nowait()
        events.append((e.kind, e.value))
    return events


# --- the keypad --------------------------------------------------------------

def test_parse_keypad_layouts():
    assert parse_keypad("rows:5,6,13,19;cols:12,16,20") == (ROWS, COLS3, "123456789*0#")
    assert parse_keypad("rows:5,6,13,19;cols:12,16,20,21")[2] == "123A456B789C*0#D"


@pytest.mark.parametrize("spec, complaint", [
    ("rows:5,6,13;cols:12,16,20", "4 rows and 3 or 4 columns"),
    ("rows:5,6,13,19;cols:12,16", "4 rows and 3 or 4 columns"),
    ("rows:5,6,13,19", "both rows: and cols:"),
    ("rows:5,6,13,19;cols:12,16,5", "used twice"),
    ("rows:5,6,13,19;cols:12,16,20;keys:123", "12 keys needed"),
    ("rows=5,6,13,19;cols:12,16,20", "expected rows:PINS"),
])
def test_bad_keypad_specs_are_clear_errors(spec, complaint):
    with pytest.raises(KeypadError, match=complaint):
        parse_keypad(spec)
    with pytest.raises(LineError, match=complaint):
        open_line(f"kiosk://USB?hook=GPIO22&keypad={spec}")


def test_kiosk_needs_a_hook_pin():
    with pytest.raises(LineError, match="hook=PIN"):
        open_line("kiosk://USB?keypad=rows:5,6,13,19;cols:12,16,20")


@pytest.mark.parametrize("cols, keys", [(COLS3, "123456789*0#"), (COLS4, "123A456B789C*0#D")])
def test_every_key_once_despite_bounce(pins, cols, keys):
    matrix = Matrix(pins, ROWS, cols, keys)
    seen = []
    with MatrixKeypad(ROWS, cols, pin_factory=pins) as pad:
        pad.when_pressed = seen.append
        for i, key in enumerate(keys):
            matrix.press(key)
            until(lambda: len(seen) > i)
            time.sleep(0.04)  # idle scans before the next press
    assert "".join(seen) == keys


def test_idle_keypad_drives_every_row_and_sleeps(pins):
    Matrix(pins, ROWS, COLS3, "123456789*0#")
    with MatrixKeypad(ROWS, COLS3, pin_factory=pins) as pad:
        time.sleep(0.05)
        before = [len(pins.pin(r).states) for r in ROWS]
        time.sleep(0.1)
        assert [len(pins.pin(r).states) for r in ROWS] == before  # no scanning while idle
        assert [pins.pin(r).state for r in ROWS] == [False] * 4
        assert pad.scan() == set()


def test_two_keys_held_together_are_both_reported(pins):
    matrix = Matrix(pins, ROWS, COLS3, "123456789*0#")
    seen = []
    with MatrixKeypad(ROWS, COLS3, pin_factory=pins) as pad:
        pad.when_pressed = seen.append
        matrix.set("1", True)
        until(lambda: seen == ["1"])
        matrix.set("#", True)
        until(lambda: len(seen) == 2)
        assert pad.scan() == {"1", "#"}
        matrix.set("1", False)
        matrix.set("#", False)
        time.sleep(0.06)
    assert seen == ["1", "#"]


# --- the hook switch ---------------------------------------------------------

def test_hook_reports_each_real_change_once_despite_bounce(pins):
    changes = []
    with HookSwitch(22, settle=0.03, pin_factory=pins) as hook:
        hook.when_changed = changes.append
        pin = pins.pin(22)
        bounce(pin, final_low=True)  # lifted
        time.sleep(0.1)
        assert hook.is_lifted
        bounce(pin, final_low=False)  # replaced
        time.sleep(0.1)
        assert not hook.is_lifted
    assert changes == [True, False]


def test_hook_ignores_a_glitch_and_a_burst_that_ends_where_it_began(pins):
    """A bare first-edge debounce would report a lift for each of these."""
    changes = []
    with HookSwitch(22, settle=0.03, pin_factory=pins) as hook:
        hook.when_changed = changes.append
        pin = pins.pin(22)
        pin.drive_low()
        pin.drive_high()  # a knock on the cradle
        time.sleep(0.1)
        bounce(pin, final_low=False, edges=6)  # starts low, settles high again
        time.sleep(0.1)
        assert not hook.is_lifted
    assert changes == []


def test_hook_waits_for_the_pin_to_settle(pins):
    changes = []
    with HookSwitch(22, settle=0.1, pin_factory=pins) as hook:
        hook.when_changed = changes.append
        pins.pin(22).drive_low()
        time.sleep(0.05)
        assert changes == [] and not hook.is_lifted
        time.sleep(0.15)
        assert changes == [True]


# --- the line ----------------------------------------------------------------

def blinks(pin, seconds):
    start = len(pin.states)
    time.sleep(seconds)
    return len(pin.states) - start


def test_a_call_from_lift_to_replace(pins, card):
    matrix = Matrix(pins, ROWS, COLS3, "123456789*0#")
    hook, led = pins.pin(22), pins.pin(23)

    async def main():
        line = open_line(URL, pin_factory=pins)
        async with line:
            assert led.state is True  # idle: steady
            waiting = asyncio.create_task(line.wait_for_call())
            await asyncio.sleep(0.2)
            assert not waiting.done()
            await asyncio.to_thread(bounce, hook, True)
            await asyncio.wait_for(waiting, 3)
            await line.answer()
            assert line.card.device == CARD
            assert await asyncio.to_thread(blinks, led, 0.3) <= 1  # slow blink in a call
            await asyncio.to_thread(matrix.press, "5")
            await line.read_frame()
            await line.write_frame(SILENCE)
            await asyncio.to_thread(bounce, hook, False)
            with pytest.raises(HungUp):
                for _ in range(50):
                    await line.read_frame()
            await line.hangup()
            assert led.state is True and await asyncio.to_thread(blinks, led, 0.2) == 0
        return drain(line)

    assert run(main()) == [("hook", "off"), ("key", "5"), ("hook", "on"),
                           ("hangup", "handset replaced")]


def test_a_handset_left_off_must_be_replaced_before_the_next_call(pins, card):
    hook = pins.pin(22)

    async def main():
        async with open_line(URL, pin_factory=pins) as line:
            await asyncio.to_thread(bounce, hook, True)
            await asyncio.wait_for(line.wait_for_call(), 3)
            await line.answer()
            await line.hangup()  # the flow ended; the handset is still up
            waiting = asyncio.create_task(line.wait_for_call())
            await asyncio.sleep(0.2)
            assert not waiting.done()
            await asyncio.to_thread(bounce, hook, False)
            await asyncio.sleep(0.1)
            assert not waiting.done()
            await asyncio.to_thread(bounce, hook, True)
            await asyncio.wait_for(waiting, 3)

    run(main())


def test_a_missing_handset_card_shows_a_fault_and_keeps_waiting(pins, card):
    hook, led = pins.pin(22), pins.pin(23)

    async def main():
        line = open_line(URL.replace(CARD, "NoSuchHandset") + "&probe_interval=0.1", pin_factory=pins)
        async with line:
            waiting = asyncio.create_task(line.wait_for_call())
            await asyncio.to_thread(bounce, hook, True)
            await asyncio.sleep(0.3)
            assert not waiting.done()
            assert await asyncio.to_thread(blinks, led, 0.5) >= 4  # fast blink
            waiting.cancel()

    run(main())
