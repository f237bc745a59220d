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

The serial port is only touched from a reader thread and a one-worker
executor, so the asyncio loop never blocks on it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import errno
import fcntl
import logging
import os
import pathlib
import threading
import time

import serial

from .constants import FRAME_BYTES, RATE
from .line import CallInfo, HungUp, Line, LineError
from .modem_protocol import CODECS, DleParser, caller_fields, choose_codec, parse_cid_line, parse_vsm, shield

log = logging.getLogger(__name__)

FINAL_RESULTS = {"OK", "ERROR", "CONNECT", "VCON", "NO CARRIER", "BUSY", "NO DIALTONE", "NO DIAL TONE", "NO ANSWER"}
# What the DTE sends to end a full-duplex stream differs by chipset.
STREAM_STOPS = (b"\x10\x03", b"\x10!", b"\x10^")
MAX_QUEUED_FRAMES = 50
USBDEVFS_RESET = ord("U") << 8 | 20


class ATTimeout(LineError):
    """The modem did not answer an AT command in time."""


class ModemLine(Line):
    """A telephone line on a voice modem; see the module docstring."""

    realtime = True

    def __init__(self, target: str, rings=2, codec="auto", baud=115200, at_timeout=2.0,
                 keepalive=60.0, ring_gap=8.0, wedge_after=2, **unknown) -> None:
        super().__init__()
        if unknown:
            raise LineError(f"unknown modem option(s) {', '.join(sorted(unknown))}: use rings, codec, "
                            "baud, at_timeout, keepalive, ring_gap, wedge_after")
        if not target:
            raise LineError("a modem URL needs a device path, as in modem:///dev/ttyACM0")
        self.port = target
        self.rings = _number("rings", rings, int, 1)
        self.baud = _number("baud", baud, int, 300)
        self.at_timeout = _number("at_timeout", at_timeout, float, 0.05)
        self.keepalive = _number("keepalive", keepalive, float, 0)
        self.ring_gap = _number("ring_gap", ring_gap, float, 0.1)
        self.wedge_after = _number("wedge_after", wedge_after, int, 1)
        if codec != "auto" and codec not in CODECS:
            raise LineError(f"unknown codec {codec!r}: use auto, {', '.join(CODECS)}")
        self.codec_wanted = codec
        self.offer = None
        self.offers: list = []
        self.reopen_pause = 0.3
        self._serial: serial.Serial | None = None
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._reader: threading.Thread | None = None
        self._stop_reader = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._failed: LineError | None = None
        self._pending: tuple[str, list, asyncio.Future] | None = None
        self._unsolicited: asyncio.Queue = asyncio.Queue()
        self._frames: asyncio.Queue = asyncio.Queue()
        self._ended = asyncio.Event()
        self._gone: HungUp | None = None
        self._declined = False
        self._in_call = False
        self._timeouts = 0
        self._recovering = False
        self._last_rx = 0.0
        # reader-thread state
        self._mode = "command"
        self._stream_wanted = False
        self._linebuf = bytearray()
        self._after_connect = False
        self._parser = DleParser()
        self._pcm = bytearray()
        self._codec = CODECS["linear"]

    def __repr__(self) -> str:
        return f"<ModemLine {self.port} rings={self.rings}>"

    # --- Line interface ------------------------------------------------------

    async def open(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._failed = self._gone = None
        self._unsolicited, self._frames = asyncio.Queue(), asyncio.Queue()
        self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="modem-write")
        try:
            await self._open_port()
            if not await self._alive():
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
        except BaseException:
            await self.close()
            raise
        log.info("modem %s ready: voice codec %s (%s), answering after %d rings",
                 self.port, self.offer.codec, self.offer, self.rings)

    async def close(self) -> None:
        await self._close_port()
        if self._executor:
            self._executor.shutdown(wait=False)
            self._executor = None
        self._in_call = False

    async def wait_for_call(self) -> CallInfo:
        if self._declined:
            await self._until_ringing_stops()
        rings, fields, told, last = 0, {}, False, 0.0
        while True:
            if self._failed:
                raise self._failed
            waiting = rings or fields
            if waiting:
                timeout = max(0.0, last + self.ring_gap - time.monotonic())
            else:
                timeout = self.keepalive or None
            try:
                if self._unsolicited.empty():
                    when, line = await asyncio.wait_for(self._unsolicited.get(), timeout)
                else:
                    when, line = self._unsolicited.get_nowait()
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
        self._frames = asyncio.Queue()
        self._ended.clear()
        await self.command("AT+FCLASS=8")
        await self.command(f"AT+VSM={self.offer.cml},{RATE}")
        await self.command("AT+VLS=1", ok=("OK", "VCON"))
        self._codec = CODECS[self.offer.codec]
        self._stream_wanted = True
        try:
            await self.command("AT+VTR", ok=("CONNECT",))
        except LineError:
            self._stream_wanted = False
            await self.command("ATH0", ok=("OK", "ERROR"))
            raise
        self._in_call = True
        log.info("answered: full-duplex %s audio at %d Hz", self.offer.codec, RATE)

    async def _until_ringing_stops(self) -> None:
        """A declined call (<Reject>) goes on ringing until the caller gives up; let it."""
        self._declined = False
        while True:
            try:
                await asyncio.wait_for(self._unsolicited.get(), self.ring_gap)
            except TimeoutError:
                return

    async def hangup(self) -> None:
        if not self._in_call or self._failed:
            self._declined = not self._in_call and not self._failed
            self._in_call = False
            return
        self._in_call = False
        if self._gone and not self._ended.is_set():
            # After the far end goes, many modems end the stream themselves.
            try:
                await asyncio.wait_for(self._ended.wait(), 0.3)
            except TimeoutError:
                pass
        if not self._ended.is_set():
            for stop in STREAM_STOPS:
                await self._write(stop)
                try:
                    await asyncio.wait_for(self._ended.wait(), 1.0)
                    break
                except TimeoutError:
                    continue
            else:
                log.warning("modem %s kept streaming after every stop code; reopening the port", self.port)
                await self._reopen()
                await self._init()
        await self._quiet(0.15)
        await self.command("ATH0")
        await self.command("AT+FCLASS=0")
        self._unsolicited, self._frames = asyncio.Queue(), asyncio.Queue()
        log.info("hung up")

    async def read_frame(self) -> bytes:
        if self._failed:
            raise self._failed
        if not self._in_call and self._frames.empty():
            raise self._gone or LineError("the modem line is not in a call: answer() first")
        item = await self._frames.get()
        if isinstance(item, Exception):
            self._frames.put_nowait(item)
            raise item
        return item

    async def write_frame(self, frame: bytes) -> None:
        if len(frame) != FRAME_BYTES:
            raise ValueError(f"a frame is {FRAME_BYTES} bytes of 8 kHz 16-bit PCM, not {len(frame)}")
        if self._failed:
            raise self._failed
        if self._gone:
            raise self._gone
        if not self._in_call:
            raise LineError("the modem line is not in a call: answer() first")
        await self._write(shield(self._codec.encode(frame)))

    # --- AT commands ---------------------------------------------------------

    async def command(self, cmd: str, ok=("OK",)) -> list[str]:
        """Send one AT command; return the lines before its result code.

        Raises LineError if the result is not in ``ok``. Timeouts in a row
        lead to reopening the port and then resetting the USB device.
        """
        for _ in range(self.wedge_after + 1):
            try:
                result, body = await self._raw_command(cmd)
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

    async def _raw_command(self, cmd: str) -> tuple[str, list[str]]:
        if self._failed:
            raise self._failed
        future = self._loop.create_future()
        self._pending = (cmd, [], future)
        try:
            await self._write(cmd.encode("ascii") + b"\r")
            return await asyncio.wait_for(future, self.at_timeout)
        except TimeoutError:
            raise ATTimeout(f"modem {self.port} did not answer {cmd}") from None
        finally:
            self._pending = None

    async def _alive(self) -> bool:
        for _ in range(2):
            try:
                result, _ = await self._raw_command("AT")
            except ATTimeout:
                continue
            if result == "OK":
                return True
        return False

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
            await self._reopen()
            if await self._alive():
                log.warning("modem %s answers again after reopening the port", self.port)
                await self._init()
                return
            log.warning("modem %s is still silent; resetting its USB device", self.port)
            try:
                done = await self._loop.run_in_executor(None, usb_reset, self.port)
            except LineError as e:
                log.error("modem %s: %s", self.port, e)
                raise LineError(f"modem {self.port} is wedged: no answer to AT after reopening the "
                                f"port, and no USB reset ({e})") from None
            log.warning("modem %s: %s", self.port, done)
            await self._reopen(appear_within=10.0)
            if await self._alive():
                await self._init()
                return
            raise LineError(f"modem {self.port} is wedged: no answer to AT after reopening the port "
                            "and a USB reset")
        finally:
            self._recovering = False
            self._timeouts = 0

    # --- the serial port ------------------------------------------------------

    async def _open_port(self, appear_within: float = 0.0) -> None:
        deadline = time.monotonic() + appear_within
        while not os.path.exists(self.port) and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        self._serial = await self._loop.run_in_executor(self._executor, self._open_serial)
        self._mode, self._stream_wanted = "command", False
        self._linebuf.clear()
        self._stop_reader = threading.Event()
        self._reader = threading.Thread(target=self._read_loop, args=(self._serial, self._stop_reader),
                                        name=f"modem-read {self.port}", daemon=True)
        self._reader.start()

    def _open_serial(self) -> serial.Serial:
        try:
            return serial.Serial(self.port, self.baud, timeout=0.05, write_timeout=2.0, exclusive=True)
        except serial.SerialException as e:
            code = e.errno or getattr(e.__context__, "errno", None)
            why = {
                errno.ENOENT: "no such device (is the modem plugged in? `ivrbox devices` lists ports)",
                errno.EACCES: "permission denied (add the user to the dialout group)",
                errno.EBUSY: "busy (another program has it open)",
                errno.EAGAIN: "locked by another program",
            }.get(code, str(e))
            raise LineError(f"cannot open modem {self.port}: {why}") from None

    async def _close_port(self) -> None:
        ser, reader = self._serial, self._reader
        self._serial = self._reader = None
        if ser is None:
            return
        self._stop_reader.set()
        ser.cancel_read()
        await asyncio.to_thread(reader.join, 2.0)
        await asyncio.to_thread(ser.close)

    async def _reopen(self, appear_within: float = 0.0) -> None:
        await self._close_port()
        # Closing drops DTR, which resets most modems; give it a moment.
        await asyncio.sleep(self.reopen_pause)
        await self._open_port(appear_within)

    async def _write(self, data: bytes) -> None:
        if self._failed:
            raise self._failed
        ser = self._serial
        if ser is None:
            raise LineError(f"modem {self.port} is not open")
        try:
            await self._loop.run_in_executor(self._executor, ser.write, data)
        except serial.SerialTimeoutException:
            raise LineError(f"modem {self.port} stopped taking data") from None
        except (serial.SerialException, OSError, TypeError) as e:
            self._port_failed(e)
            raise self._failed from None

    async def _quiet(self, seconds: float) -> None:
        """Wait until the modem has sent nothing for ``seconds`` (at most a second)."""
        deadline = time.monotonic() + 1.0
        while time.monotonic() - self._last_rx < seconds and time.monotonic() < deadline:
            await asyncio.sleep(seconds / 3)

    # --- the reader thread and what it hands to the loop ----------------------

    def _read_loop(self, ser: serial.Serial, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                data = ser.read(ser.in_waiting or 1)
            except (serial.SerialException, OSError, TypeError, ValueError) as e:
                if not stop.is_set():
                    self._call(self._port_failed, e)
                return
            if data and not stop.is_set():
                self._last_rx = time.monotonic()
                self._take(data)

    def _call(self, fn, *args) -> None:
        try:
            self._loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:  # the loop closed under us
            pass

    def _take(self, data: bytes) -> None:
        while data:
            if self._mode == "stream":
                if self._after_connect:
                    # CONNECT ends in CR LF; the LF may come in the next read.
                    self._after_connect = False
                    data = data[1:] if data[:1] == b"\n" else data
                    continue
                audio, events, rest = self._parser.feed(data)
                if audio:
                    self._pcm += self._codec.decode(audio)
                    while len(self._pcm) >= FRAME_BYTES:
                        self._call(self._put_frame, bytes(self._pcm[:FRAME_BYTES]))
                        del self._pcm[:FRAME_BYTES]
                for event in events:
                    self._call(self._stream_event, *event)
                if rest is None:
                    return
                self._mode, self._stream_wanted = "command", False
                data = rest
                continue
            self._linebuf += data
            data = b""
            while True:
                cut = min((i for i in (self._linebuf.find(b"\r"), self._linebuf.find(b"\n")) if i >= 0),
                          default=-1)
                if cut < 0:
                    if len(self._linebuf) > 4096:
                        self._linebuf.clear()
                    break
                raw = bytes(self._linebuf[:cut])
                del self._linebuf[: cut + 1]
                line = "".join(c for c in raw.decode("latin-1") if c.isprintable()).strip()
                if not line:
                    continue
                self._call(self._on_line, line)
                if line == "CONNECT" and self._stream_wanted:
                    self._mode, self._parser = "stream", DleParser()
                    self._after_connect = True
                    self._pcm.clear()
                    data = bytes(self._linebuf)
                    self._linebuf.clear()
                    break

    def _on_line(self, line: str) -> None:
        pending = self._pending
        if pending and not pending[2].done():
            cmd, body, future = pending
            if line.upper() == cmd.upper():
                return
            if line in FINAL_RESULTS:
                future.set_result((line, body))
                return
        if line == "RING" or parse_cid_line(line):
            self._unsolicited.put_nowait((time.monotonic(), line))
        elif pending:
            pending[1].append(line)
        else:
            log.debug("modem %s said %r", self.port, line)

    def _put_frame(self, frame: bytes) -> None:
        if self._frames.qsize() >= MAX_QUEUED_FRAMES:
            self._frames.get_nowait()
        self._frames.put_nowait(frame)

    def _stream_event(self, kind: str, value: str) -> None:
        if kind == "dtmf":
            log.info("DTMF %s", value)
            self.post("dtmf", value)
        elif kind == "hangup":
            self._far_end_gone(value)
        elif kind == "end":
            self._ended.set()
            if self._in_call:
                self._far_end_gone(f"the modem ended the voice stream with {value}")
        else:
            log.debug("modem %s sent <DLE>%s", self.port, value)

    def _far_end_gone(self, reason: str) -> None:
        if self._gone:
            return
        log.info("far end hung up: %s", reason)
        self._gone = HungUp(f"the far end hung up ({reason})")
        self.post("hangup", reason)
        self._frames.put_nowait(self._gone)

    def _port_failed(self, error: Exception) -> None:
        if self._failed:
            return
        self._failed = LineError(f"modem {self.port} went away: {error}")
        log.error("%s", self._failed)
        if self._pending and not self._pending[2].done():
            self._pending[2].set_exception(self._failed)
        self._frames.put_nowait(self._failed)
        self._unsolicited.put_nowait((time.monotonic(), self._failed))

    def _tell_caller_id(self, fields: dict) -> None:
        who = caller_fields(fields)
        log.info("caller ID: %s %s", who["caller"] or "-", who["name"])
        self.post("caller_id", who["caller"], **who, fields=dict(fields))


def _number(name: str, value, kind, least):
    try:
        number = kind(value)
    except (TypeError, ValueError):
        raise LineError(f"modem option {name}={value!r} is not a{'n integer' if kind is int else ' number'}") from None
    if number < least:
        raise LineError(f"modem option {name}={value!r} must be at least {least}")
    return number


# --- USB reset ---------------------------------------------------------------


def usb_device(port: str, sys_root: str = "/sys") -> pathlib.Path | None:
    """The sysfs directory of the USB device behind a tty, or None."""
    name = os.path.basename(os.path.realpath(port))
    link = pathlib.Path(sys_root, "class", "tty", name, "device")
    if not link.exists():
        return None
    path = link.resolve()
    while path != path.parent:
        if (path / "busnum").exists() and (path / "devnum").exists():
            return path
        path = path.parent
    return None


def usb_reset(port: str, sys_root: str = "/sys", dev_root: str = "/dev") -> str:
    """Reset the USB device behind ``port``: re-authorize it, else USBDEVFS_RESET.

    Returns what was done; raises LineError saying why it could not.
    """
    device = usb_device(port, sys_root)
    if device is None:
        raise LineError(f"{port} is not a USB device, so it cannot be reset")
    try:
        (device / "authorized").write_text("0")
        time.sleep(0.5)
        (device / "authorized").write_text("1")
        return f"re-authorized USB device {device.name}"
    except OSError as e:
        first = e
    bus = int((device / "busnum").read_text())
    num = int((device / "devnum").read_text())
    node = os.path.join(dev_root, "bus", "usb", f"{bus:03d}", f"{num:03d}")
    try:
        fd = os.open(node, os.O_WRONLY)
        try:
            fcntl.ioctl(fd, USBDEVFS_RESET, 0)
        finally:
            os.close(fd)
        return f"reset USB device {device.name} through {node}"
    except OSError as e:
        raise LineError(f"no permission to reset USB device {device.name} ({first.strerror}; "
                        f"{node}: {e.strerror}); run as root or add a udev rule") from None


# --- identify, for `ivrbox devices` -----------------------------------------------


def identify(port: str, timeout: float = 1.0) -> dict:
    """Ask what is on a serial port, without asyncio; for ``ivrbox devices``.

    Returns a dict with ``answers`` (True if it answered AT), ``identity``
    (ATI and AT+GMM lines), ``classes`` (AT+FCLASS=?), ``offers`` (VsmOffer
    list) and ``codec`` (the offer this line would use, or None), or
    ``error`` when the port cannot be opened.
    """
    info: dict = {"port": port, "answers": False, "identity": [], "classes": "", "offers": [], "codec": None}
    try:
        with serial.Serial(port, 115200, timeout=0.05, write_timeout=timeout, exclusive=True) as ser:

            def ask(cmd: str) -> tuple[str, list[str]]:
                ser.reset_input_buffer()
                ser.write(cmd.encode() + b"\r")
                deadline, buf = time.monotonic() + timeout, b""
                while time.monotonic() < deadline:
                    buf += ser.read(ser.in_waiting or 1)
                    lines = [ln.strip() for ln in buf.decode("latin-1").replace("\r", "\n").split("\n")]
                    lines = [ln for ln in lines if ln and ln.upper() != cmd.upper()]
                    if lines and lines[-1] in FINAL_RESULTS and buf.endswith((b"\r", b"\n")):
                        return lines[-1], lines[:-1]
                return "", []

            if ask("AT")[0] != "OK" and ask("AT")[0] != "OK":
                return info
            info["answers"] = True
            for cmd in ("ATI", "AT+GMM"):
                result, body = ask(cmd)
                info["identity"] += body if result == "OK" else []
            result, body = ask("AT+FCLASS=?")
            info["classes"] = ",".join(body) if result == "OK" else ""
            if "8" in info["classes"].replace("(", ",").replace(")", ",").split(","):
                ask("AT+FCLASS=8")
                result, body = ask("AT+VSM=?")
                ask("AT+FCLASS=0")
                info["offers"] = parse_vsm(body) if result == "OK" else []
                try:
                    info["codec"] = choose_codec(info["offers"])
                except ValueError:
                    pass
    except (serial.SerialException, OSError) as e:
        info["error"] = str(e)
    return info
