"""Dialling out on a voice modem's call, for <Dial> as a blind transfer.

A modem cannot take AT commands while it streams voice, so each step pauses
the stream (the same stop codes as hanging up), sends its command and starts
the stream again, so that the box hears the line's call progress:

- the hook flash is the ``!`` dial modifier, ``ATD!;`` (the ``;`` keeps the
  modem in command mode, in voice mode; the modem times the flash itself,
  in its S-register, so ``flash_ms`` does not apply);
- digits go out with V.253's ``AT+VTS=1,2,3`` (``w`` in ``sendDigits``
  pauses half a second).

A modem that answers ERROR has no such command: the dial fails with the
modem's answer in the message.
"""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager

from .line import LineError

PAUSE = 0.5  # seconds per "w"


class ModemDialling:
    """Mixed into ModemLine: ``flash`` and ``dial`` over its AT channel."""

    can_transfer = True
    stream_stops: tuple[bytes, ...] = ()
    _pausing = False

    async def flash(self, seconds: float) -> None:
        async with self._paused():
            await self.command("ATD!;")

    async def dial(self, digits: str) -> bool:
        for i, part in enumerate(digits.lower().split("w")):
            if i:
                await asyncio.sleep(PAUSE)
            if part:
                async with self._paused():
                    await self.command("AT+VTS=" + ",".join(part))
        return True

    async def _stop_stream(self) -> bool:
        """Send each stop code in turn until the modem ends the voice stream; False if none did."""
        for stop in self.stream_stops:
            await self.at.write(stop)
            try:
                await asyncio.wait_for(self._ended.wait(), 1.0)
                return True
            except TimeoutError:
                continue
        return False

    @asynccontextmanager
    async def _paused(self):
        """Stop the voice stream for commands, then start it again."""
        if not self._in_call:
            raise LineError("the modem is not in a call")
        self._pausing = True
        try:
            self._ended.clear()
            if not await self._stop_stream():
                raise LineError(f"modem {self.port} kept streaming after every stop code")
            await self.at.quiet(0.15)
            try:
                yield
            finally:
                self.at.stream_wanted = True
                self._ended.clear()
                await self.command("AT+VTR", ok=("CONNECT",))
        finally:
            self._pausing = False
