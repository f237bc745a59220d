"""The sound-card line: a USB audio card plus an FXO interface on GPIO pins.

The card (``drivers.soundcard``) is found by a substring of its name and
resampled to 8 kHz. An FXO board needs two pins: an off-hook relay
(``hook``) and a ring-detect input (``ring``). Without them, as with a plain
USB handset, ``wait_for_call`` returns as soon as the card is there.

    >>> from gpiozero.pins.mock import MockFactory
    >>> from drivers import open_line
    >>> line = open_line("sound://USB?hook=GPIO17&ring=GPIO27&rings=2", pin_factory=MockFactory())
    >>> line.device, line.rings, line.hangup_tones
    ('USB', 2, True)

A call then runs as ``await line.wait_for_call()`` (re-probes the card until
it is plugged in, then counts ring bursts), ``await line.answer()`` (opens
the card, relay on), ``read_frame``/``write_frame``, ``await line.hangup()``
(relay off, card closed).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time

from . import speexdsp
from .constants import FRAME_SECONDS, SILENCE
from .line import CallInfo, HungUp, Line, LineError
from .options import ECHO_OPTIONS, Option, echo_wanted, parse_options, pin
from .soundcard import SoundCard
from .sounddevices import check_device

log = logging.getLogger(__name__)

OPTIONS = {
    "hook": Option(pin),
    "ring": Option(pin),
    "rings": Option(int, 2, least=1),
    "rate": Option(int, least=1),
    "ring_active": Option(str, "low", choices=("low", "high")),
    "ring_gap": Option(float, 0.8, least=0),
    "ring_timeout": Option(float, 8.0, least=0),
    "probe_interval": Option(float, 1.0, least=0),
    "stall": Option(float, 0.5, least=0),
    "disconnect": Option(str, choices=("tones", "off")),
    "silence": Option(float, 0, least=0),
    "flash_ms": Option(float, 600.0, least=50),
    **ECHO_OPTIONS,
}


class SoundLine(Line):
    """A call over a sound card, with an optional FXO board on GPIO pins.

    ``rings`` is how many ring bursts to wait for. A burst is ring-detect
    activity with no gap longer than ``ring_gap`` seconds (so a UK double
    ring counts once); no ring for ``ring_timeout`` seconds means the caller
    gave up and the count starts again. ``ring_active`` is the level the
    detector's output takes while ringing (``low`` for the usual
    open-collector optocoupler, which gets the pull-up).

    An exchange does not tell an FXO line that the caller hung up: it plays
    busy, reorder or dial tone. With ``disconnect=tones`` (the default when
    there is a ``hook`` pin) the line asks the call to listen for them
    (``hangup_tones``), and for ``silence`` seconds of near silence (0, the
    default: never). With a ``hook`` pin the line can also dial out on the
    call (<Dial> as a blind transfer): ``flash`` opens the relay for
    ``flash_ms`` milliseconds (600).

    With a ``hook`` pin the line is a 2-wire line whose hybrid returns the
    box's own voice: an echo canceller (``drivers.echo``) then sits between
    what the box sends and what it hears, unless ``echo=off``; ``echo=on``
    turns it on without a hook pin. It finds the card's round trip itself;
    ``echo_delay`` (ms) is a first guess, ``echo_tail`` (ms) the echo it
    cancels after that delay.

    ``pin_factory`` is gpiozero's, for the relay and the ring detector
    (None: gpiozero's default).
    """

    def __init__(self, device: str = "", *, pin_factory=None, **options) -> None:
        super().__init__()
        o = parse_options("sound", options, OPTIONS)
        self.rings, self.ring_gap, self.ring_timeout = o.rings, o.ring_gap, o.ring_timeout
        self.probe_interval = o.probe_interval
        self.disconnect = o.disconnect or ("tones" if o.hook is not None else "off")
        self.hangup_tones = self.disconnect == "tones"
        self.hangup_silence = o.silence
        self.can_transfer, self.flash_seconds = o.hook is not None, o.flash_ms / 1000
        self.device = device
        self.card = SoundCard(device, rate=o.rate, stall=o.stall)
        self.hook_pin, self.ring_pin, self.ring_active = o.hook, o.ring, o.ring_active
        self.pin_factory = pin_factory
        self.relay = self.detector = None
        self._answered = self._declined = False
        self.echo = o if echo_wanted(o, two_wire=o.hook is not None) else None
        self.canceller = None  # made with the first answer: an idle line holds no numpy

    async def open(self) -> None:
        from gpiozero import DigitalInputDevice, GPIOZeroError, OutputDevice

        self._loop = asyncio.get_running_loop()
        self._edges: asyncio.Queue[float] = asyncio.Queue()
        try:
            if self.hook_pin is not None:
                self.relay = OutputDevice(self.hook_pin, initial_value=False, pin_factory=self.pin_factory)
            if self.ring_pin is not None:
                self.detector = DigitalInputDevice(self.ring_pin, pull_up=self.ring_active == "low",
                                                   pin_factory=self.pin_factory)
                self.detector.when_activated = self._ring_edge
        except GPIOZeroError as e:
            await self.close()
            raise LineError(f"FXO pins hook={self.hook_pin} ring={self.ring_pin}: {e}") from e
        if self.echo is not None:
            speexdsp.library()  # missing, it stops the line now rather than at the first call
        await asyncio.to_thread(check_device, self.device)

    def _ring_edge(self) -> None:
        stamp = time.monotonic()  # on gpiozero's thread
        self._loop.call_soon_threadsafe(self._edges.put_nowait, stamp)

    async def wait_for_call(self) -> CallInfo:
        started = time.monotonic()
        if self.detector is None:
            await self.card.reopen(self.probe_interval)
            return CallInfo()
        await self._until_card_is_there()
        if self._declined:
            await self._until_ringing_stops()
            started = time.monotonic()
        rings, last = 0, -math.inf
        while True:
            try:
                stamp = await asyncio.wait_for(self._edges.get(),
                                               self.ring_timeout if rings else None)
            except asyncio.TimeoutError:
                log.info("caller gave up after %d ring(s)", rings)
                rings = 0
                continue
            if stamp < started:  # rang during the last call
                continue
            if stamp - last > self.ring_gap:
                rings += 1
                self.post("ring", rings)
                if rings >= self.rings:
                    return CallInfo(rings=rings)
            last = stamp

    async def answer(self) -> None:
        await self.card.open()
        # The card's timeline for the canceller starts here, in both directions.
        self.card.drain()
        self._silent_frames = self._starved_frames()
        if self.canceller is None and self.echo is not None:
            from .echo import from_options

            self.canceller = from_options(self.echo, two_wire=True)
        if self.canceller is not None:
            self.canceller.restart(dropped=self.card.dropped)
        if self.relay is not None:
            self.relay.on()
        self._answered = True

    async def _until_card_is_there(self) -> None:
        """Between calls the card rests (no audio, no CPU): it is probed, and opened only to answer."""
        reported = False
        while True:
            try:
                await asyncio.to_thread(check_device, self.device)
                return
            except LineError as e:
                if not reported:
                    log.warning("%s; waiting for it", e)
                    reported = True
            await asyncio.sleep(self.probe_interval)

    async def _until_ringing_stops(self) -> None:
        """A declined call (<Reject>) goes on ringing until the caller gives up; let it."""
        self._declined = False
        while True:
            try:
                await asyncio.wait_for(self._edges.get(), self.ring_timeout)
            except asyncio.TimeoutError:
                return

    async def hangup(self) -> None:
        if self._answered and self.canceller is not None:
            log.info("sound %s: %s", self.device, self.canceller.state)
        self._declined = not self._answered
        self._answered = False
        if self.relay is not None:
            self.relay.off()
        await self.card.close()

    async def flash(self, seconds: float) -> None:
        """Open the hook relay for ``seconds`` (``flash_ms``): the exchange's hook flash."""
        if self.relay is None or not self._answered:
            raise LineError("a hook flash needs the hook relay (hook=GPIOn) and a call in progress")
        self.relay.off()
        await asyncio.sleep(seconds)
        self.relay.on()

    async def read_frame(self) -> bytes:
        if not self._answered:
            raise HungUp("the line is on hook")
        frame = await self.card.read_frame()
        return frame if self.canceller is None else self.canceller.capture(frame, dropped=self.card.dropped)

    async def write_frame(self, frame: bytes) -> None:
        if not self._answered:
            raise HungUp("the line is on hook")
        if self.canceller is not None:
            # The card's own silence, where it had nothing to play, is part of what the line hears back.
            starved = self._starved_frames()
            for _ in range(starved - self._silent_frames):
                self.canceller.playback(SILENCE)
            self._silent_frames = max(starved, self._silent_frames)
            self.canceller.playback(frame)
        await self.card.write_frame(frame)

    @property
    def output_delay(self) -> float:
        return self.card.queued_seconds

    def discard_output(self) -> int:
        if not (self._answered and self.card.is_open):
            return 0
        dropped = self.card.discard()
        if self.canceller is not None:
            self.canceller.unplay(dropped)
        return dropped

    def _starved_frames(self) -> int:
        return int(self.card.starved / (self.card.rate * FRAME_SECONDS))

    async def close(self) -> None:
        await self.hangup()
        for device in (self.relay, self.detector):
            if device is not None:
                device.close()
        self.relay = self.detector = None
