"""The kiosk line: a handset on a USB sound card, a hook switch, a matrix
keypad and a status LED on GPIO pins.

Lifting the handset is the call: ``wait_for_call`` returns, and replacing it
makes ``read_frame`` raise HungUp. Keys post ``LineEvent("key", "5")``. The
handset's audio is a SoundCard found by name, as for the sound line.

    kiosk://USB?keypad=rows:5,6,13,19;cols:12,16,20&hook=GPIO22&led=GPIO23

    >>> from gpiozero.pins.mock import MockFactory
    >>> from drivers import open_line
    >>> line = open_line("kiosk://USB?keypad=rows:5,6,13,19;cols:12,16,20&hook=GPIO22&led=GPIO23",
    ...                  pin_factory=MockFactory())
    >>> line.keys
    '123456789*0#'
"""

from __future__ import annotations

import asyncio

from gpiozero import LED, GPIOZeroError

from .hook import HookSwitch
from .keypad import MatrixKeypad, parse_keypad
from .line import CallInfo, HungUp, Line, LineError
from .options import Option, parse_options, pin
from .soundcard import SoundCard

OPTIONS = {
    "keypad": Option(parse_keypad),
    "hook": Option(pin),
    "led": Option(pin),
    "rate": Option(int, least=1),
    "settle": Option(float, 0.05, least=0),
    "probe_interval": Option(float, 1.0, least=0),
    "stall": Option(float, 0.5, least=0),
}


class StatusLED(LED):
    """One LED for the kiosk's state: steady when idle, a slow blink in a
    call, a fast blink on a fault.

    >>> from gpiozero.pins.mock import MockFactory
    >>> led = StatusLED("GPIO23", pin_factory=MockFactory())
    >>> led.status = "idle"
    >>> led.is_lit
    True
    >>> led.close()
    """

    BLINKS = {"call": (0.5, 0.5), "fault": (0.1, 0.1)}

    _status = "off"

    @property
    def status(self) -> str:
        return self._status

    @status.setter
    def status(self, value: str) -> None:
        if value == self._status:
            return
        if value == "idle":
            self.on()
        elif value in self.BLINKS:
            on, off = self.BLINKS[value]
            self.blink(on, off)
        else:
            raise ValueError(f"status must be idle, call or fault, not {value!r}")
        self._status = value


class KioskLine(Line):
    """A handset kiosk. ``device`` is the sound card's name substring
    (empty: the default device); ``keypad``, ``hook`` and ``led`` are pins;
    ``pin_factory`` is gpiozero's for all of them (None: its default)."""

    def __init__(self, device: str = "", *, pin_factory=None, **options) -> None:
        super().__init__()
        o = parse_options("kiosk", options, OPTIONS)
        if o.hook is None:
            raise LineError("a kiosk line needs hook=PIN for its hook switch")
        self.rows, self.cols, self.keys = o.keypad or ([], [], "")
        self.settle, self.probe_interval = o.settle, o.probe_interval
        self.hook_pin, self.led_pin = o.hook, o.led
        self.pin_factory = pin_factory
        self.card = SoundCard(device, rate=o.rate, stall=o.stall)
        self.hook = self.keypad = self.led = None
        self._in_call = False

    async def open(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._hook_changed = asyncio.Event()
        try:
            self.hook = HookSwitch(self.hook_pin, settle=self.settle, pin_factory=self.pin_factory)
            self.hook.when_changed = self._from_thread(self._on_hook)
            if self.rows:
                self.keypad = MatrixKeypad(self.rows, self.cols, self.keys, pin_factory=self.pin_factory)
                self.keypad.when_pressed = self._from_thread(lambda key: self.post("key", key))
            if self.led_pin is not None:
                self.led = StatusLED(self.led_pin, pin_factory=self.pin_factory)
                self.led.status = "idle"
        except GPIOZeroError as e:
            await self.close()
            raise LineError(f"kiosk pins: {e}") from e

    def _from_thread(self, handler):
        return lambda *args: self._loop.call_soon_threadsafe(handler, *args)

    def _on_hook(self, lifted: bool) -> None:
        self.post("hook", "off" if lifted else "on")
        if not lifted and self._in_call:
            self.post("hangup", "handset replaced")
        self._hook_changed.set()

    async def _hook_becomes(self, lifted: bool) -> None:
        while self.hook.is_lifted != lifted:
            self._hook_changed.clear()
            await self._hook_changed.wait()

    def _status(self, status: str) -> None:
        if self.led is not None:
            self.led.status = status

    async def wait_for_call(self) -> CallInfo:
        """Wait for a fresh lift (a handset left off after the last call must
        be replaced first), then for the sound card."""
        await self._hook_becomes(False)
        await self._hook_becomes(True)
        try:
            await self.card.open()
        except LineError:
            self._status("fault")
            await self.card.reopen(self.probe_interval)
        return CallInfo()

    async def answer(self) -> None:
        await self.card.open()
        self.card.drain()
        self._in_call = True
        self._status("call")

    async def hangup(self) -> None:
        self._in_call = False
        await self.card.close()
        self._status("idle")

    async def read_frame(self) -> bytes:
        if not self.hook.is_lifted:
            raise HungUp("handset replaced")
        try:
            return await self.card.read_frame()
        except LineError:
            self._status("fault")
            raise

    async def write_frame(self, frame: bytes) -> None:
        if not self.hook.is_lifted:
            raise HungUp("handset replaced")
        try:
            await self.card.write_frame(frame)
        except LineError:
            self._status("fault")
            raise

    @property
    def output_delay(self) -> float:
        return self.card.queued_seconds

    def discard_output(self) -> int:
        return self.card.discard() if self.card.is_open else 0

    async def close(self) -> None:
        self._in_call = False
        await self.card.close()
        for device in (self.keypad, self.hook, self.led):
            if device is not None:
                device.close()
        self.hook = self.keypad = self.led = None
