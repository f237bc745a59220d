"""The voice-modem line: a Conexant CX93001 or USR 5637 class modem (AT+V).

The modem answers after ``rings`` rings, reports caller ID, and carries the
call as full-duplex voice (``AT+VTR``) in the best 8 kHz codec its
``AT+VSM=?`` offers: µ-law, else 8-bit linear. DTMF the modem hears arrives
as ``dtmf`` events; the far end hanging up (loop current drop, busy tone,
silence) raises HungUp from ``read_frame``.

    import asyncio
    from drivers import HungUp, open_line

    async def main():
        async with open_line("modem:///dev/ttyACM0?rings=2") as line:
            info = await line.wait_for_call()
            print("call from", info.caller or "unknown", info.name)
            await line.answer()
            try:
                while True:                      # echo the caller back
                    await line.write_frame(await line.read_frame())
            except HungUp:
                pass
            await line.hangup()

    asyncio.run(main())

URL options: ``rings`` (2), ``codec`` (auto, ulaw, linear, slinear),
``baud`` (115200), ``at_timeout`` (seconds per AT command, 2),
``keepalive`` (seconds between idle ``AT`` checks, 60; 0 turns them off),
``ring_gap`` (seconds without a ring before a call counts as missed, 8) and
``wedge_after`` (AT timeouts in a row before the port is reopened, 2).
A full-duplex call hears its own voice back through the line's hybrid, so
an echo canceller (``drivers.echo``) sits between what the box sends and
what it hears: ``echo`` (on, or off), ``echo_tail`` (ms, 64) and
``echo_delay`` (ms, 0: a first guess; it finds the round trip itself).

The port is an ``ATChannel`` (``drivers.at``): a reader thread and a
one-worker executor, so the asyncio loop never blocks on it. A modem that
stops answering is reopened, then reset on USB (``drivers.usb``).
"""

from __future__ import annotations

import asyncio
import logging
import time

from . import speexdsp
from .at import ATChannel, ATTimeout
from .constants import FRAME_BYTES, RATE
from .line import CallInfo, HungUp, Line, LineError
from .modem_dial import ModemDialling
from .modem_protocol import CODECS, caller_fields, choose_codec, parse_cid_line, parse_vsm, shield
from .options import ECHO_OPTIONS, Option, echo_wanted, parse_options
from .usb import usb_reset

log = logging.getLogger(__name__)

# What the DTE sends to end a full-duplex stream differs by chipset.
STREAM_STOPS = (b"\x10\x03", b"\x10!", b"\x10^")
OPTIONS = {
    "rings": Option(int, 2, least=1),
    "codec": Option(str, "auto", choices=("auto", *CODECS)),
    "baud": Option(int, 115200, least=300),
    "at_timeout": Option(float, 2.0, least=0.05),
    "keepalive": Option(float, 60.0, least=0),
    "ring_gap": Option(float, 8.0, least=0.1),
    "wedge_after": Option(int, 2, least=1),
    **ECHO_OPTIONS,
}


class ModemLine(ModemDialling, Line):
    """A telephone line on a voice modem; see the module docstring."""

    realtime = True
    stream_stops = STREAM_STOPS

    def __init__(self, target: str, **options) -> None:
        super().__init__()
        o = parse_options("modem", options, OPTIONS)
        if not target:
            raise LineError("a modem URL needs a device path, as in modem:///dev/ttyACM0")
        self.port = target
        self.rings, self.keepalive, self.ring_gap = o.rings, o.keepalive, o.ring_gap
        self.at_timeout, self.wedge_after = o.at_timeout, o.wedge_after
        self.codec_wanted = o.codec
        self.at = ATChannel(target, baud=o.baud, at_timeout=o.at_timeout, on_stream_event=self._stream_event)
        self.offer = None
        self.offers: list = []
        self._ended = asyncio.Event()
        self._gone: HungUp | None = None
        self._declined = False
        self._in_call = False
        self._timeouts = 0
        self._recovering = False
        self.echo = o if echo_wanted(o, two_wire=True) else None
        self.canceller = None  # made with the first answer: an idle line holds no numpy

    def __repr__(self) -> str:
        return f"<ModemLine {self.port} rings={self.rings}>"

    # --- Line interface ------------------------------------------------------

    async def open(self) -> None:
        self._gone = None
        try:
            await self.at.open()
            if not await self.at.alive():
                raise LineError(f"nothing on {self.port} answers AT: is it a modem, and is another "
                                "program (ModemManager, a getty) using it?")
            await self._init()
            await self.command("AT+FCLASS=8")
            self.offers = parse_vsm(await self.command("AT+VSM=?"))
            await self.command("AT+FCLASS=0")
            try:
                self.offer = choose_codec(self.offers, self.codec_wanted)
            except ValueError as e:
                raise LineError(f"modem {self.port}: {e}") from None
            if self.echo is not None:
                speexdsp.library()  # missing, it stops the line now rather than at the first call
        except BaseException:
            await self.close()
            raise
        log.info("modem %s ready: voice codec %s (%s), answering after %d rings",
                 self.port, self.offer.codec, self.offer, self.rings)

    async def close(self) -> None:
        await self.at.close()
        self._in_call = False

    async def wait_for_call(self) -> CallInfo:
        if self._declined:
            await self._until_ringing_stops()
        rings, fields, told, last = 0, {}, False, 0.0
        while True:
            if self.at.failed:
                raise self.at.failed
            waiting = rings or fields
            if waiting:
                timeout = max(0.0, last + self.ring_gap - time.monotonic())
            else:
                timeout = self.keepalive or None
            unsolicited = self.at.unsolicited
            try:
                if unsolicited.empty():
                    when, line = await asyncio.wait_for(unsolicited.get(), timeout)
                else:
                    when, line = unsolicited.get_nowait()
            except TimeoutError:
                when, line = None, None
            if waiting and (when is None or when - last > self.ring_gap):
                who = caller_fields(fields)["caller"] or "an unknown caller"
                log.info("missed call from %s after %d ring(s)", who, rings)
                rings, fields, told = 0, {}, False
            if line is None:
                if not waiting:
                    await self.command("AT")
                continue
            if isinstance(line, Exception):
                raise line
            last = when
            cid = parse_cid_line(line)
            if cid:
                fields[cid[0]] = cid[1]
                continue
            if line != "RING":
                continue
            rings += 1
            if fields and not told:
                self._tell_caller_id(fields)
                told = True
            log.info("ring %d of %d", rings, self.rings)
            self.post("ring", rings)
            if rings >= self.rings:
                return CallInfo(rings=rings, **caller_fields(fields))

    async def answer(self) -> None:
        if self.offer is None:
            raise LineError("open() the modem line before answering")
        self._gone = None
        self.at.frames = asyncio.Queue()
        self._ended.clear()
        if self.canceller is None and self.echo is not None:  # before the stream: its frames are counted
            from .echo import from_options

            self.canceller = from_options(self.echo, two_wire=True)
        await self.command("AT+FCLASS=8")
        await self.command(f"AT+VSM={self.offer.cml},{RATE}")
        await self.command("AT+VLS=1", ok=("OK", "VCON"))
        self.at.codec = CODECS[self.offer.codec]
        self.at.stream_wanted = True
        try:
            await self.command("AT+VTR", ok=("CONNECT",))
        except LineError:
            self.at.stream_wanted = False
            await self.command("ATH0", ok=("OK", "ERROR"))
            raise
        if self.canceller is not None:
            self.canceller.restart(dropped=self.at.dropped)  # the frame counts start again with the stream
        self._in_call = True
        log.info("answered: full-duplex %s audio at %d Hz", self.offer.codec, RATE)

    async def _until_ringing_stops(self) -> None:
        """A declined call (<Reject>) goes on ringing until the caller gives up; let it."""
        self._declined = False
        while True:
            try:
                await asyncio.wait_for(self.at.unsolicited.get(), self.ring_gap)
            except TimeoutError:
                return

    async def hangup(self) -> None:
        if not self._in_call or self.at.failed:
            self._declined = not self._in_call and not self.at.failed
            self._in_call = False
            return
        self._in_call = False
        if self.canceller is not None:
            log.info("modem %s: %s", self.port, self.canceller.state)
        if self._gone and not self._ended.is_set():
            # After the far end goes, many modems end the stream themselves.
            try:
                await asyncio.wait_for(self._ended.wait(), 0.3)
            except TimeoutError:
                pass
        if not self._ended.is_set() and not await self._stop_stream():
            log.warning("modem %s kept streaming after every stop code; reopening the port", self.port)
            await self.at.reopen()
            await self._init()
        await self.at.quiet(0.15)
        await self.command("ATH0")
        await self.command("AT+FCLASS=0")
        self.at.unsolicited, self.at.frames = asyncio.Queue(), asyncio.Queue()
        log.info("hung up")

    async def read_frame(self) -> bytes:
        if self.at.failed:
            raise self.at.failed
        frames = self.at.frames
        if not self._in_call and frames.empty():
            raise self._gone or LineError("the modem line is not in a call: answer() first")
        item = await frames.get()
        if isinstance(item, Exception):
            frames.put_nowait(item)
            raise item
        return item if self.canceller is None else self.canceller.capture(item, dropped=self.at.dropped)

    async def write_frame(self, frame: bytes) -> None:
        if len(frame) != FRAME_BYTES:
            raise ValueError(f"a frame is {FRAME_BYTES} bytes of 8 kHz 16-bit PCM, not {len(frame)}")
        if self.at.failed:
            raise self.at.failed
        if self._gone:
            raise self._gone
        if not self._in_call:
            raise LineError("the modem line is not in a call: answer() first")
        if self._pausing:  # commands on the port (modem_dial.py): no audio in between
            return
        if self.canceller is not None:
            self.canceller.playback(frame)
        await self.at.write(shield(self.at.codec.encode(frame)))

    # --- AT commands, and getting a wedged modem back --------------------------

    async def command(self, cmd: str, ok=("OK",)) -> list[str]:
        """Send one AT command; return the lines before its result code.

        Raises LineError if the result is not in ``ok``. Timeouts in a row
        lead to reopening the port and then resetting the USB device.
        """
        for _ in range(self.wedge_after + 1):
            try:
                result, body = await self.at.ask(cmd)
            except ATTimeout:
                self._timeouts += 1
                log.warning("modem %s did not answer %s within %.1f s (%d in a row)",
                            self.port, cmd, self.at_timeout, self._timeouts)
                if self._recovering:
                    raise
                if self._timeouts >= self.wedge_after:
                    await self._recover()
                continue
            self._timeouts = 0
            if result not in ok:
                said = " ".join(body + [result])
                raise LineError(f"modem {self.port} answered {said!r} to {cmd}")
            return body
        raise ATTimeout(f"modem {self.port} does not answer {cmd}")

    async def _init(self) -> None:
        for cmd in ("ATZ", "ATE0", "ATV1", "AT+FCLASS=0"):
            await self.command(cmd)
        for cmd in ("AT+VCID=1", "AT#CID=1"):
            try:
                await self.command(cmd)
                return
            except ATTimeout:
                raise
            except LineError:
                continue
        log.warning("modem %s refuses AT+VCID=1 and AT#CID=1: no caller ID", self.port)

    async def _recover(self) -> None:
        self._recovering = True
        try:
            log.warning("modem %s: %d AT commands in a row went unanswered; reopening the port",
                        self.port, self._timeouts)
            await self.at.reopen()
            if await self.at.alive():
                log.warning("modem %s answers again after reopening the port", self.port)
                await self._init()
                return
            log.warning("modem %s is still silent; resetting its USB device", self.port)
            try:
                done = await asyncio.get_running_loop().run_in_executor(None, usb_reset, self.port)
            except LineError as e:
                log.error("modem %s: %s", self.port, e)
                raise LineError(f"modem {self.port} is wedged: no answer to AT after reopening the "
                                f"port, and no USB reset ({e})") from None
            log.warning("modem %s: %s", self.port, done)
            await self.at.reopen(appear_within=10.0)
            if await self.at.alive():
                await self._init()
                return
            raise LineError(f"modem {self.port} is wedged: no answer to AT after reopening the port "
                            "and a USB reset")
        finally:
            self._recovering = False
            self._timeouts = 0

    # --- what the voice stream reports ------------------------------------------

    def _stream_event(self, kind: str, value: str) -> None:
        if kind == "dtmf":
            log.info("DTMF %s", value)
            self.post("dtmf", value)
        elif kind == "hangup":
            self._far_end_gone(value)
        elif kind == "end":
            self._ended.set()
            if self._in_call and not self._pausing:
                self._far_end_gone(f"the modem ended the voice stream with {value}")
        else:
            log.debug("modem %s sent <DLE>%s", self.port, value)

    def _far_end_gone(self, reason: str) -> None:
        if self._gone:
            return
        log.info("far end hung up: %s", reason)
        self._gone = HungUp(f"the far end hung up ({reason})")
        self.post("hangup", reason)
        self.at.frames.put_nowait(self._gone)

    def _tell_caller_id(self, fields: dict) -> None:
        who = caller_fields(fields)
        log.info("caller ID: %s %s", who["caller"] or "-", who["name"])
        self.post("caller_id", who["caller"], **who, fields=dict(fields))
