"""A fake CX93001 / USR 5637 class voice modem on a pseudo-terminal.

The test opens ``modem.path`` with real pyserial; the fake sits on the pty's
master side and speaks AT and AT+V with the quirks real modems have: caller
ID before the first RING (UK), a ``<DLE>`` split from its code across reads,
a voice stream that ends with ``<DLE><ETX>`` or with a bare ``OK``, DTMF
reported as ``<DLE>5`` or bracketed ``<DLE>/ <DLE>5 <DLE>5 <DLE>~``, the far
end hanging up as ``<DLE>l``, ``b`` or ``s``, and wedging (no answer to AT).
In voice mode it flashes the hook for ``ATD!;`` (``flash=False``: ERROR, as a
modem without the modifier) and dials the keys of ``AT+VTS=1,2,3``.

Its codecs (``modem_audio``) are written out sample by sample, apart from
the driver's numpy ones, so a test that passes audio through both checks the driver's.

    with FakeModem("usr5637") as modem:
        line = open_line(f"modem://{modem.path}?rings=2")
        modem.ring(2, cid=["NMBR = 5551234"])
"""

from __future__ import annotations

import os
import select
import threading
import time
import tty

from drivers.constants import DTMF_KEYS, FRAME_SAMPLES, FRAME_SECONDS, RATE
from modem_audio import DTMF_FREQS, SILENCE, decode, encode, tone

DLE = 0x10

MODELS = {
    "usr5637": {
        "ati": ["5601"],
        "gmm": ["U.S. Robotics 56K FAX USB V1.2.23"],
        "classes": "0,1,1.0,2,2.0,8",
        "vsm": {
            1: ('"UNSIGNED PCM",8,0,(7200,8000),(0),(0)', "linear"),
            128: ('"8-BIT LINEAR",8,0,(7200,8000),(0),(0)', "linear"),
            129: ('"ADPCM",4,0,(7200,8000),(0),(0)', None),
            131: ('"ULAW",8,0,(7200,8000),(0),(0)', "ulaw"),
            132: ('"ALAW",8,0,(7200,8000),(0),(0)', None),
            133: ('"LINEAR",16,0,(7200,8000),(0),(0)', None),
        },
        "vsm_prefix": "",
    },
    "cx93001": {
        "ati": ["56000"],
        "gmm": ["CX93001-EIS_V0.2002-V92"],
        "classes": "0,1,1.0,2,8",
        "vsm": {
            0: ('"SIGNED PCM",8,0,(7200,8000,11025),(0),(0)', "slinear"),
            1: ('"UNSIGNED PCM",8,0,(7200,8000,11025),(0),(0)', "linear"),
            129: ('"IMA ADPCM",4,0,(7200,8000,11025),(0),(0)', None),
        },
        "vsm_prefix": "",
    },
}


class FakeModem:
    """A voice modem on a pty; ``path`` is the device the driver opens.

    ``end_with`` is how a voice stream ends: ``"dle_etx"`` (``<DLE><ETX>``
    then ``OK``) or ``"ok"`` (a bare ``OK``). ``split_dle`` makes every write
    that holds a ``<DLE>`` break right after it, with a pause, so the driver
    reads the two halves separately.
    """

    def __init__(self, model: str = "usr5637", end_with: str = "dle_etx", split_dle: bool = False,
                 duplex: bool = True, stops: bytes = b"\x03!", flash: bool = True) -> None:
        self.model = MODELS[model]
        self.end_with = end_with
        self.split_dle = split_dle
        self.duplex = duplex
        self.stops = stops
        self.can_flash = flash  # takes the ! dial modifier (hook flash) in voice mode
        self.flashes = 0
        self.dialled = ""  # digits sent with AT+VTS
        self.master, slave = os.openpty()
        tty.setraw(slave)
        self.path = os.ttyname(slave)
        os.close(slave)
        self.commands: list[str] = []
        self.received = bytearray()
        self.opens = 0
        self.wedged: str | None = None
        self._lock = threading.Lock()
        self._out: list = []
        self._line_audio: list[bytes] = []
        self._port_open = False
        self._running = True
        self._reset()
        self._thread = threading.Thread(target=self._run, name="fake-modem", daemon=True)
        self._thread.start()

    def _reset(self) -> None:
        self.echo = True
        self.fclass = 0
        self.offhook = False
        self.codec: str | None = None
        self.streaming = False
        self._cmd = bytearray()
        self._dte_dle = False

    # --- test controls ---------------------------------------------------

    def ring(self, count: int, cid: list[str] | None = None, cid_before_ring: bool = False,
             interval: float = 0.05) -> threading.Thread:
        """Ring ``count`` times in the background, with caller ID lines after
        the first ring (or before it, as in the UK)."""

        def script():
            for i in range(count):
                if self.offhook or not self._running:
                    return
                if i == 0 and cid and cid_before_ring:
                    self._send(("\r\n" + "\r\n".join(cid) + "\r\n").encode())
                    time.sleep(interval)
                self._send(b"\r\nRING\r\n")
                time.sleep(interval)
                if i == 0 and cid and not cid_before_ring:
                    self._send(("\r\n" + "\r\n".join(cid) + "\r\n").encode())
                    time.sleep(interval)

        thread = threading.Thread(target=script, daemon=True)
        thread.start()
        return thread

    def say(self, text: str) -> None:
        """Send raw text as the modem would, e.g. an unsolicited line."""
        self._send(text.encode())

    def play(self, pcm: bytes, paced: bool = False) -> None:
        """Send caller audio (16-bit PCM at 8 kHz) in the negotiated codec; ``paced``
        sends it one frame per 20 ms in place of the stream's silence, as a line's audio
        comes (the stream stopping drops what is left)."""
        if paced:
            with self._lock:
                self._line_audio += [pcm[i:i + 2 * FRAME_SAMPLES] for i in range(0, len(pcm), 2 * FRAME_SAMPLES)]
            return
        self._send(encode(self.codec, pcm).replace(b"\x10", b"\x10\x10"))

    def dtmf(self, digit: str, style: str = "plain", with_tone: bool = True) -> None:
        """The caller presses ``digit``: its tone as audio, and the modem's report.

        ``plain`` sends ``<DLE>digit`` once; ``bracket`` sends ``<DLE>/``, the
        digit three times while the tone lasts, then ``<DLE>~``.
        """
        audio = tone(DTMF_FREQS[digit], 120) if with_tone else bytes(1920)
        thirds = [audio[:640], audio[640:1280], audio[1280:]]
        code = b"\x10" + digit.encode()
        if style == "plain":
            self._send(code)
            for part in thirds:
                self.play(part)
        else:
            self._send(b"\x10/")
            for part in thirds:
                self._send(code)
                self.play(part)
            self._send(b"\x10~")

    def hang_up(self, code: str = "l", end: bool = False) -> None:
        """The far end goes away: the modem reports ``<DLE>code`` (and ends the stream)."""
        self._send(b"\x10" + code.encode())
        if end:
            self.end_stream()

    def wedge(self, until: str = "reopen") -> None:
        """Stop answering; ``until`` is ``"reopen"`` (closing the port frees it) or ``"never"``."""
        self.wedged = until

    def unplug(self) -> None:
        """Vanish, as a USB modem pulled out mid-call: the driver's port reads fail."""
        self._running = False
        self._thread.join(1)
        os.close(self.master)
        self.master = -1

    def close(self) -> None:
        if self.master >= 0:
            self.unplug()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # --- the modem ---------------------------------------------------------

    def _send(self, item) -> None:
        with self._lock:
            self._out.append(item)

    def _run(self) -> None:
        tick = time.monotonic()
        while self._running:
            ready, _, _ = select.select([self.master], [], [], 0.01)
            if ready:
                try:
                    data = os.read(self.master, 4096)
                except OSError:
                    if self._port_open:
                        self._port_closed()
                    time.sleep(0.01)
                    continue
                self._opened()
                self._input(data)
            else:
                self._opened()
            if self._out or time.monotonic() >= tick:
                tick = time.monotonic() + FRAME_SECONDS
                self._pump()

    def _opened(self) -> None:
        if not self._port_open:
            self._port_open = True
            self.opens += 1

    def _port_closed(self) -> None:
        # The DTE dropping DTR resets the modem; a hard wedge survives it.
        self._port_open = False
        with self._lock:
            self._out.clear()
        self._reset()
        if self.wedged == "reopen":
            self.wedged = None

    def _pump(self) -> None:
        with self._lock:
            items, self._out = self._out, []
        if not self.streaming:
            self._line_audio.clear()
        elif not items and self._line_audio:
            items = [encode(self.codec, self._line_audio.pop(0)).replace(b"\x10", b"\x10\x10")]
        elif not items:
            items = [bytes([SILENCE[self.codec]]) * FRAME_SAMPLES]
        for item in items:
            if callable(item):
                item()
            elif self.split_dle and DLE in item:
                cut = item.index(DLE) + 1
                self._write(item[:cut])
                time.sleep(0.03)
                self._write(item[cut:])
            else:
                self._write(item)

    def _write(self, data: bytes) -> None:
        while data and self._port_open:  # a pty takes a few kB at a time: write it all
            try:
                data = data[os.write(self.master, data):]
            except OSError:
                return

    def _input(self, data: bytes) -> None:
        if self.wedged:
            return
        i = 0
        while i < len(data):
            if self.streaming:
                i = self._stream_input(data, i)
                continue
            byte = data[i]
            i += 1
            if self.echo:
                self._send(bytes([byte]))
            if byte in b"\r\n":
                line = self._cmd.decode("latin-1").strip()
                self._cmd.clear()
                if line:
                    self._command(line)
            else:
                self._cmd.append(byte)

    def _stream_input(self, data: bytes, i: int) -> int:
        audio = bytearray()
        while i < len(data):
            byte = data[i]
            i += 1
            if self._dte_dle:
                self._dte_dle = False
                if byte == DLE:
                    audio.append(DLE)
                elif byte in self.stops:
                    self.received += decode(self.codec, bytes(audio))
                    self.end_stream()
                    self.streaming = False
                    return i
            elif byte == DLE:
                self._dte_dle = True
            else:
                audio.append(byte)
        self.received += decode(self.codec, bytes(audio))
        return i

    def end_stream(self) -> None:
        """Queue the end of the voice stream; silence stops once it is sent."""

        def stop():
            self.streaming = False

        def think():
            # a real modem takes a moment to say OK after <DLE><ETX>
            time.sleep(0.05)

        with self._lock:
            if self.end_with == "dle_etx":
                self._out += [b"\x10\x03", stop, think, b"\r\nOK\r\n"]
            else:
                self._out += [b"\r\nOK\r\n", stop]

    def _command(self, line: str) -> None:
        # Like a real modem, skip whatever comes before "AT" on the line.
        start = line.upper().find("AT")
        if start < 0:
            return
        line = line[start:]
        self.commands.append(line)
        cmd = line.upper().replace(" ", "")
        ok, error = "OK", "ERROR"
        m = self.model
        if cmd in ("AT", "ATV1", "ATE1", "AT+VCID=1", "AT#CID=1") or cmd.startswith("AT+VSD"):
            if cmd == "ATE1":
                self.echo = True
            self._reply(ok)
        elif cmd in ("ATZ", "ATZ0"):
            self._reset()
            self._reply(ok)
        elif cmd == "ATE0":
            self.echo = False
            self._reply(ok)
        elif cmd in ("ATH", "ATH0"):
            self.offhook = False
            self._reply(ok)
        elif cmd in ("ATI", "ATI0"):
            self._reply(*m["ati"], ok)
        elif cmd == "AT+GMM":
            self._reply(*m["gmm"], ok)
        elif cmd == "AT+FCLASS=?":
            self._reply(m["classes"], ok)
        elif cmd == "AT+FCLASS?":
            self._reply(str(self.fclass), ok)
        elif cmd.startswith("AT+FCLASS="):
            value = cmd.split("=", 1)[1]
            if value in m["classes"].split(","):
                self.fclass = int(float(value))
                self._reply(ok)
            else:
                self._reply(error)
        elif cmd == "AT+VSM=?":
            if self.fclass != 8:
                self._reply(error)
            else:
                self._reply(*(f'{m["vsm_prefix"]}{k},{v[0]}' for k, v in m["vsm"].items()), ok)
        elif cmd.startswith("AT+VSM="):
            args = cmd.split("=", 1)[1].split(",")
            entry = m["vsm"].get(int(args[0])) if args[0].isdigit() else None
            rate = args[1] if len(args) > 1 else str(RATE)
            if self.fclass != 8 or not entry or not entry[1] or rate not in entry[0]:
                self._reply(error)
            else:
                self.codec = entry[1]
                self._reply(ok)
        elif cmd.startswith("AT+VLS="):
            if self.fclass != 8:
                self._reply(error)
            else:
                self.offhook = cmd.endswith("=1")
                self._reply(ok)
        elif cmd in ("ATD!;", "ATDT!;"):
            if self.fclass != 8 or not self.offhook or not self.can_flash:
                self._reply(error)
            else:
                self.flashes += 1
                self._reply(ok)
        elif cmd.startswith("AT+VTS="):
            keys = cmd.split("=", 1)[1].split(",")
            if self.fclass != 8 or not self.offhook or not all(len(k) == 1 and k in DTMF_KEYS for k in keys):
                self._reply(error)
            else:
                self.dialled += "".join(keys)
                self._reply(ok)
        elif cmd == "AT+VTR":
            if self.fclass != 8 or not self.offhook or not self.codec or not self.duplex:
                self._reply(error)
            else:
                self._reply("CONNECT")
                self._dte_dle = False
                self.streaming = True
        else:
            self._reply(error)

    def _reply(self, *lines: str) -> None:
        # a real modem takes a few milliseconds over each command
        self._send(lambda: time.sleep(0.005))
        self._send(b"".join(b"\r\n" + line.encode() + b"\r\n" for line in lines))
