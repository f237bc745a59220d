"""An AT command channel on a serial port, read by a thread of its own.

The port is only touched from a reader thread and a one-worker executor for
writes, so the asyncio loop never blocks on it. The reader splits what the
modem says into command responses (handed to the command waiting for them),
unsolicited lines (``RING`` and caller ID, queued in ``unsolicited``) and,
once a voice stream is on, 20 ms frames of 8 kHz PCM (queued in ``frames``)
and stream events (handed to ``on_stream_event``).

    channel = ATChannel("/dev/ttyACM0", at_timeout=1.0)
    await channel.open()
    result, lines = await channel.ask("ATI")    # ("OK", ["5601"])
    await channel.close()

A port that fails (unplugged) sets ``failed``, fails the waiting command and
puts the LineError in both queues, so whoever waits hears of it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import errno
import logging
import os
import threading
import time

import serial

from .constants import FRAME_BYTES
from .line import LineError
from .modem_protocol import CODECS, DleParser, parse_cid_line

log = logging.getLogger(__name__)

FINAL_RESULTS = {"OK", "ERROR", "CONNECT", "VCON", "NO CARRIER", "BUSY", "NO DIALTONE", "NO DIAL TONE", "NO ANSWER"}
MAX_QUEUED_FRAMES = 50
REASONS = {
    errno.ENOENT: "no such device (is the modem plugged in? `ivrbox devices` lists ports)",
    errno.EACCES: "permission denied (add the user to the dialout group)",
    errno.EBUSY: "busy (another program has it open)",
    errno.EAGAIN: "locked by another program",
}


class ATTimeout(LineError):
    """The modem did not answer an AT command in time."""


class PortError(LineError):
    """The serial port cannot be opened; ``reason`` says why in a few words."""

    def __init__(self, port: str, reason: str) -> None:
        super().__init__(f"cannot open modem {port}: {reason}")
        self.reason = reason


class ATChannel:
    """AT commands and a voice stream over one serial port; see the module docstring.

    ``codec`` decodes the voice stream; a command that makes the modem answer
    ``CONNECT`` switches the reader to the stream when ``stream_wanted`` is set.
    """

    def __init__(self, port: str, *, baud: int = 115200, at_timeout: float = 2.0,
                 on_stream_event=None) -> None:
        self.port, self.baud, self.at_timeout = port, baud, at_timeout
        self.on_stream_event = on_stream_event or (lambda kind, value: None)
        self.reopen_pause = 0.3
        self.failed: LineError | None = None
        self.unsolicited: asyncio.Queue = asyncio.Queue()
        self.frames: asyncio.Queue = asyncio.Queue()
        self.codec = CODECS["linear"]
        self.stream_wanted = False
        self.last_rx = 0.0
        self._serial: serial.Serial | None = None
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._reader: threading.Thread | None = None
        self._stop_reader = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending: tuple[str, list, asyncio.Future] | None = None
        # reader-thread state
        self._mode = "command"
        self._linebuf = bytearray()
        self._after_connect = False
        self._parser = DleParser()
        self._pcm = bytearray()

    # --- opening and closing ----------------------------------------------------

    async def open(self) -> None:
        """Open the port and start the reader. Raises PortError saying why it cannot."""
        self._loop = asyncio.get_running_loop()
        self.failed = None
        self.unsolicited, self.frames = asyncio.Queue(), asyncio.Queue()
        self.dropped = 0  # frames heard that the reader, a second behind, never got
        if self._executor is None:
            self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="modem-write")
        await self._open_port()

    async def _open_port(self, appear_within: float = 0.0) -> None:
        deadline = time.monotonic() + appear_within
        while not os.path.exists(self.port) and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        self._serial = await self._loop.run_in_executor(self._executor, self._open_serial)
        self._mode, self.stream_wanted = "command", False
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
            raise PortError(self.port, REASONS.get(code, str(e))) from None

    async def close(self) -> None:
        """Stop the reader and release the port. Safe to call twice."""
        await self._close_port()
        if self._executor:
            self._executor.shutdown(wait=False)
            self._executor = None

    async def _close_port(self) -> None:
        ser, reader = self._serial, self._reader
        self._serial = self._reader = None
        if ser is None:
            return
        self._stop_reader.set()
        ser.cancel_read()
        await asyncio.to_thread(reader.join, 2.0)
        await asyncio.to_thread(ser.close)

    async def reopen(self, appear_within: float = 0.0) -> None:
        """Close and open the port again (waiting up to ``appear_within`` seconds
        for it to come back), which resets most modems."""
        await self._close_port()
        # Closing drops DTR, which resets most modems; give it a moment.
        await asyncio.sleep(self.reopen_pause)
        await self._open_port(appear_within)

    # --- commands ------------------------------------------------------------------

    async def ask(self, cmd: str) -> tuple[str, list[str]]:
        """Send one AT command; return its result code and the lines before it.

        Raises ATTimeout when no result code comes within ``at_timeout``.
        """
        if self.failed:
            raise self.failed
        future = self._loop.create_future()
        self._pending = (cmd, [], future)
        try:
            await self.write(cmd.encode("ascii") + b"\r")
            return await asyncio.wait_for(future, self.at_timeout)
        except TimeoutError:
            raise ATTimeout(f"modem {self.port} did not answer {cmd}") from None
        finally:
            self._pending = None

    async def alive(self) -> bool:
        """True when the modem answers ``AT`` with OK, in two tries."""
        for _ in range(2):
            try:
                result, _ = await self.ask("AT")
            except ATTimeout:
                continue
            if result == "OK":
                return True
        return False

    async def write(self, data: bytes) -> None:
        if self.failed:
            raise self.failed
        ser = self._serial
        if ser is None:
            raise LineError(f"modem {self.port} is not open")
        try:
            await self._loop.run_in_executor(self._executor, ser.write, data)
        except serial.SerialTimeoutException:
            raise LineError(f"modem {self.port} stopped taking data") from None
        except (serial.SerialException, OSError, TypeError) as e:
            self._port_failed(e)
            raise self.failed from None

    async def quiet(self, seconds: float) -> None:
        """Wait until the modem has sent nothing for ``seconds`` (at most a second)."""
        deadline = time.monotonic() + 1.0
        while time.monotonic() - self.last_rx < seconds and time.monotonic() < deadline:
            await asyncio.sleep(seconds / 3)

    # --- the reader thread and what it hands to the loop ----------------------------

    def _read_loop(self, ser: serial.Serial, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                data = ser.read(ser.in_waiting or 1)
            except (serial.SerialException, OSError, TypeError, ValueError) as e:
                if not stop.is_set():
                    self._call(self._port_failed, e)
                return
            if data and not stop.is_set():
                self.last_rx = time.monotonic()
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
                    self._pcm += self.codec.decode(audio)
                    while len(self._pcm) >= FRAME_BYTES:
                        self._call(self._put_frame, bytes(self._pcm[:FRAME_BYTES]))
                        del self._pcm[:FRAME_BYTES]
                for event in events:
                    self._call(self.on_stream_event, *event)
                if rest is None:
                    return
                self._mode, self.stream_wanted = "command", False
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
                if line == "CONNECT" and self.stream_wanted:
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
            self.unsolicited.put_nowait((time.monotonic(), line))
        elif pending:
            pending[1].append(line)
        else:
            log.debug("modem %s said %r", self.port, line)

    def _put_frame(self, frame: bytes) -> None:
        if self.frames.qsize() >= MAX_QUEUED_FRAMES:
            self.frames.get_nowait()
            self.dropped += 1  # the echo canceller counts them
        self.frames.put_nowait(frame)

    def _port_failed(self, error: Exception) -> None:
        if self.failed:
            return
        self.failed = LineError(f"modem {self.port} went away: {error}")
        log.error("%s", self.failed)
        if self._pending and not self._pending[2].done():
            self._pending[2].set_exception(self.failed)
        self.frames.put_nowait(self.failed)
        self.unsolicited.put_nowait((time.monotonic(), self.failed))
