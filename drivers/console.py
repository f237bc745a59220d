"""The console line: the terminal is the phone.

Keys typed on the terminal are the box's keypad (0-9, *, #, A-D); prompts
are printed, and spoken through the default sound device when there is one.
Enter starts a new call after one ends; Ctrl-D hangs up; Ctrl-C quits.

    >>> from drivers import open_line
    >>> line = open_line("console:")
    >>> line.realtime
    True
"""

from __future__ import annotations

import asyncio
import os
import sys
import termios
import tty

from .constants import DTMF_KEYS, FRAME_SECONDS, SILENCE
from .line import CallInfo, HungUp, Line, LineError
from .options import Option, parse_options

OPTIONS = {"speaker": Option(str)}  # a sound device name substring; none: the default device


class ConsoleLine(Line):
    def __init__(self, target: str = "", *, stdin=None, stdout=None, **options):
        super().__init__()
        self.stdin = stdin or sys.stdin
        self.stdout = stdout or sys.stdout
        self.speaker_name = parse_options("console", options, OPTIONS).speaker
        self.speaker = None
        self._saved_tty = None
        self._calls = 0
        self._lifted = asyncio.Event()
        self._gone = False
        self._eof = False
        self._next_frame = 0.0

    async def open(self) -> None:
        fd = self.stdin.fileno()
        try:
            asyncio.get_running_loop().add_reader(fd, self._on_input)
        except (OSError, ValueError) as e:  # /dev/null under systemd cannot be watched
            raise LineError(f"the console line needs a terminal or a pipe on standard input ({e}); "
                            "under systemd, set [line] url to a modem://, sound:// or kiosk:// line") from None
        if os.isatty(fd):
            self._saved_tty = termios.tcgetattr(fd)
            tty.setcbreak(fd)
        try:
            from .soundcard import Speaker

            self.speaker = Speaker(self.speaker_name)
            await self.speaker.open()
        except Exception as e:  # no sound card (or no PortAudio) is normal on a console
            self.speaker = None
            self._say(f"(no sound output: {e}; prompts are printed only)")

    async def close(self) -> None:
        fd = self.stdin.fileno()
        if not self._eof:
            asyncio.get_running_loop().remove_reader(fd)
        if self._saved_tty is not None:
            termios.tcsetattr(fd, termios.TCSADRAIN, self._saved_tty)
            self._saved_tty = None
        if self.speaker is not None:
            await self.speaker.close()

    def _on_input(self) -> None:
        data = os.read(self.stdin.fileno(), 64).decode(errors="ignore")
        if not data:
            asyncio.get_running_loop().remove_reader(self.stdin.fileno())
            self._gone = self._eof = True
            self._lifted.set()
            return
        for ch in data:
            if ch == "\x04":
                self._gone = True
            elif ch in "\r\n":
                self._lifted.set()
            elif ch.upper() in DTMF_KEYS:
                self.post("key", ch.upper())
                self._say(f"  [key {ch.upper()}]")

    async def wait_for_call(self) -> CallInfo:
        if self._calls:
            if self._eof:
                raise HungUp("standard input closed")
            self._say("Call ended. Press Enter to call again, Ctrl-C to quit.")
            self._lifted.clear()
            await self._lifted.wait()
            if self._eof:
                raise HungUp("standard input closed")
        self._calls += 1
        self._gone = False
        return CallInfo(caller="console", called="ivrbox")

    async def answer(self) -> None:
        self._next_frame = asyncio.get_running_loop().time()
        self._say("Connected. Type keys on the keypad: 0-9 * #. Ctrl-D hangs up.")

    async def read_frame(self) -> bytes:
        if self._gone or self._eof:
            raise HungUp("the console hung up")
        loop = asyncio.get_running_loop()
        self._next_frame += FRAME_SECONDS
        delay = self._next_frame - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        elif delay < -1.0:
            self._next_frame = loop.time()
        return SILENCE

    async def write_frame(self, frame: bytes) -> None:
        if self.speaker is not None:
            try:
                await self.speaker.write_frame(frame)
            except LineError as e:
                self._say(f"(sound output lost: {e}; prompts are printed only)")
                self.speaker = None

    def observe(self, event: dict) -> None:
        name = event["event"]
        if name == "say":
            self._say(f"box says: {event['text']}")
        elif name == "play":
            self._say(f"box plays: {event.get('url') or 'digits ' + event.get('digits', '')}")
        elif name == "gather":
            self._say(f"box heard: {event['digits'] or event['speech_result'] or '(nothing)'}")
        elif name in ("error", "warning"):
            self._say(f"{name}: {event.get('message')}")
        elif name == "hangup":
            self._say(f"hung up by {event['by']}")

    def _say(self, text: str) -> None:
        self.stdout.write(text + "\n")
        self.stdout.flush()
