"""Sound cards through PortAudio, at whatever rate they offer.

A card is found by name (sounddevices.py). It runs at the rate it offers
best and is resampled to and from the line's 8 kHz frames. ``SoundCard``
carries a call's audio for the sound and kiosk lines; ``Speaker`` is output
only, for the console line.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time

import pyaudio

from .constants import FRAME_BYTES, FRAME_SAMPLES, FRAME_SECONDS, RATE
from .line import LineError
from .sounddevices import PREFERRED_RATES, find_device, pick_rate, portaudio, supported_rates
from .thread_state import ThreadState

log = logging.getLogger(__name__)

MAX_QUEUED_FRAMES = 50  # one second of audio heard but not yet read
PERIOD_FRAMES = 2  # 20 ms frames per playback callback: fewer wake-ups against a deeper queue
HEAR_PERIOD_FRAMES = 5  # ... per capture callback: 100 ms more to hear a key, but no deeper playback queue


class SoundCard:
    """Full-duplex 8 kHz frames over a PortAudio device found by name.

    PortAudio runs its callbacks on its own threads, ``hear_period`` frames
    (20 ms each) at a time for capture and ``period`` for playback. The
    callbacks only move bytes: the capture callback queues what it hears,
    waking the event loop only when a read is waiting for it (a pump held up
    by the card's playback finds it when it comes), and the playback
    callback plays what ``write_frame`` queued. The resampling is done on
    the event loop, where numpy's code and data stay in cache: a callback
    thread that wakes 25 times a second to run it pays several times its
    cost. Reads and writes that find a frame (or room) ready return without
    yielding to the loop, so the call's frame pump runs a period's frames in
    one go.
    The output queue holds at most ``depth`` frames (a playback period and
    a capture period: the pump, woken by a capture period's frames, writes as
    many without waiting for room), so ``write_frame`` waits for the card;
    ``discard`` drops what is queued, so a stop is heard at once. A card
    that delivers nothing for ``stall`` seconds has gone away: reads and
    writes raise LineError, and ``open`` can be tried again until it is back.
    """

    input = True
    output = True

    def __init__(self, name: str | None = "", *, rate: int | None = None,
                 period: int = PERIOD_FRAMES, hear_period: int = HEAR_PERIOD_FRAMES, depth: int | None = None,
                 stall: float = 0.5) -> None:
        self.name = name or ""
        self.rate_wanted = int(rate) if rate else None
        self.period, self.hear_period = period, hear_period
        self.depth = depth or period + hear_period
        self.stall = stall
        self.rate = None
        self.device = None
        self.device_latency = 0.0  # seconds: PortAudio's output latency, the device's own buffer
        self._pa = None
        self._streams = []

    @property
    def is_open(self) -> bool:
        return bool(self._streams)

    @property
    def queued_seconds(self) -> float:
        """Seconds of audio ahead of a frame written now: the queue as it is, and the device's buffer."""
        if not self._streams:
            return 0.0
        return len(self._out) * FRAME_SECONDS + len(self._pending) / 2 / self.rate + self.device_latency

    async def open(self) -> None:
        """Open the card (in a worker thread). Raises LineError if it is not there."""
        if self._streams:
            return
        self._loop = asyncio.get_running_loop()
        self._frames: collections.deque[bytes] = collections.deque()
        self._raw: collections.deque[bytes] = collections.deque()  # periods heard, at the card's rate
        self._heard_event = asyncio.Event()
        self._waiting_heard = False
        self._room = asyncio.Event()
        self._waiting_room = False
        self._out: collections.deque[bytes] = collections.deque()
        self._pending = b""
        self._heard = b""
        self.starved = 0  # samples played as silence for want of queued audio (the echo canceller's timeline)
        # Heard but dropped unread, the reader a second behind (the same): at the card's rate, and at 8 kHz.
        self._dropped_samples = self._dropped_frames = 0
        self._hear_state, self._play_state = ThreadState(), ThreadState()
        await asyncio.to_thread(self._open)

    def _open(self) -> None:
        # Capture and playback are separate streams: a full-duplex PortAudio
        # stream over ALSA plugins sometimes never starts its callback.
        pa = portaudio()
        streams = []
        try:
            info = find_device(pa, self.name, self.input, self.output)
            rate = self.rate_wanted or pick_rate(supported_rates(pa, info, PREFERRED_RATES),
                                                 info["defaultSampleRate"])
            from .resample import Resampler  # numpy: an idle line only probes its card

            self.down, self.up = Resampler(rate, RATE), Resampler(RATE, rate)
            self._raw_max = max(1, round(MAX_QUEUED_FRAMES / self.hear_period))
            common = dict(rate=rate, channels=1, format=pyaudio.paInt16)
            if self.input:
                streams.append(pa.open(input=True, input_device_index=info["index"], stream_callback=self._hear,
                                       frames_per_buffer=round(rate * FRAME_SECONDS * self.hear_period), **common))
            if self.output:
                self._started, self._last_call, self._taken, self._play_rate = None, None, 0, rate
                streams.append(pa.open(output=True, output_device_index=info["index"], stream_callback=self._play,
                                       frames_per_buffer=round(rate * FRAME_SECONDS * self.period), **common))
        except OSError as e:
            self._release(streams, pa)
            raise LineError(f"cannot open sound device {self.name or 'default'!r}: {e}") from e
        except BaseException:
            self._release(streams, pa)
            raise
        self._pa, self._streams, self.rate, self.device = pa, streams, rate, info["name"]
        self.device_latency = streams[-1].get_output_latency() if self.output else 0.0
        log.info("sound device %r open at %d Hz", self.device, rate)

    @property
    def dropped(self) -> int:
        """Frames heard but dropped unread: the echo canceller's timeline counts them."""
        return self._dropped_frames + (self._dropped_samples * RATE // self.rate // FRAME_SAMPLES if self.rate else 0)

    def _hear(self, data, count, time_info, status):
        self._hear_state.keep()
        # Nobody reads while the line waits for rings: the queue keeps the last second, not all of it.
        if len(self._raw) >= self._raw_max:
            try:
                self._dropped_samples += len(self._raw.popleft()) // 2
            except IndexError:  # the reader took it meanwhile
                pass
        self._raw.append(data)
        if self._waiting_heard:  # else the reader finds the audio when it comes: no wake-up
            try:
                self._loop.call_soon_threadsafe(self._heard_event.set)
            except RuntimeError:  # the event loop closed under a running stream
                return None, pyaudio.paAbort
        return None, pyaudio.paContinue

    def _play(self, data, count, time_info, status):
        # PortAudio first calls this as fast as it runs to fill the device
        # buffer, for up to a few hundred ms on PulseAudio, and the ALSA pulse
        # plugin drops much of what it gets then. So queued audio waits for
        # the first callback that comes at the card's pace, and after that is
        # let out no faster than real time (two periods of slack), so the
        # queue never hides a deep buffer.
        self._play_state.keep()
        now = time.monotonic()
        if self._started is None:
            last, self._last_call = self._last_call, now
            if last is None or now - last < 0.5 * count / self._play_rate:
                return bytes(count * 2), pyaudio.paContinue
            self._started = now
        if self._taken + count > (now - self._started) * self._play_rate + 2 * count:
            return bytes(count * 2), pyaudio.paContinue
        self._taken += count
        out, want = self._pending, count * 2
        if len(out) < want and self._out:
            chunks, have = [out], len(out)
            while have < want:
                try:
                    chunks.append(self._out.popleft())
                except IndexError:  # played out, or emptied by discard meanwhile
                    break
                have += len(chunks[-1])
            out = b"".join(chunks)
            if self._waiting_room:
                try:
                    self._loop.call_soon_threadsafe(self._room.set)
                except RuntimeError:
                    return bytes(want), pyaudio.paAbort
        self._pending = out[want:]
        if len(out) < want:
            self.starved += (want - len(out)) // 2
        return out[:want].ljust(want, b"\0"), pyaudio.paContinue

    def discard(self) -> int:
        """Drop the frames queued for playing, newest first; returns how many."""
        dropped = 0
        while True:
            try:
                self._out.pop()  # the playback callback takes from the other end meanwhile
            except IndexError:
                return dropped
            dropped += 1

    def drain(self) -> None:
        """Drop the audio heard so far (before answering, say)."""
        self._raw.clear()
        self._frames.clear()

    def _gone(self, what: str) -> LineError:
        return LineError(f"sound device {self.device!r} {what} for {self.stall:g} s: unplugged?")

    async def read_frame(self) -> bytes:
        """The next 20 ms heard, as 8 kHz PCM."""
        if not self._streams:
            raise LineError("sound device is not open")
        if not self._frames:
            self._resample_heard()
        if not self._frames:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for returns the
            # result of an awaitable that finished as its own task was being
            # cancelled, so a frame arriving with FramePump.stop's cancel
            # swallowed the cancel and the pump ran on after its call.
            self._heard_event.clear()
            self._waiting_heard = True  # set before the last look: a callback after it wakes us
            try:
                async with asyncio.timeout(self.stall):
                    self._resample_heard()
                    while not self._frames:
                        await self._heard_event.wait()
                        self._heard_event.clear()
                        self._resample_heard()
            except TimeoutError:
                raise self._gone("delivered no audio") from None
            finally:
                self._waiting_heard = False
        return self._frames.popleft()

    def _resample_heard(self) -> None:
        chunks = []
        while True:
            try:
                chunks.append(self._raw.popleft())
            except IndexError:
                break
        if not chunks:
            return
        heard = self._heard + self.down.pcm(b"".join(chunks))
        whole = len(heard) // FRAME_BYTES * FRAME_BYTES
        self._frames.extend(heard[i:i + FRAME_BYTES] for i in range(0, whole, FRAME_BYTES))
        self._heard = heard[whole:]
        while len(self._frames) > MAX_QUEUED_FRAMES:
            self._frames.popleft()
            self._dropped_frames += 1

    async def write_frame(self, frame: bytes) -> None:
        """Queue 20 ms of 8 kHz PCM; waits while ``depth`` frames are queued."""
        if not self._streams:
            raise LineError("sound device is not open")
        if len(self._out) >= self.depth:
            self._room.clear()
            self._waiting_room = True
            try:
                async with asyncio.timeout(self.stall):
                    while len(self._out) >= self.depth:
                        await self._room.wait()
                        self._room.clear()
            except TimeoutError:
                raise self._gone("played nothing") from None
            finally:
                self._waiting_room = False
        self._out.append(self.up.pcm(frame))

    async def close(self) -> None:
        """Stop and release the card. Safe to call twice."""
        streams, pa = self._streams, self._pa
        if pa is None:
            return
        if self.output:
            deadline = time.monotonic() + self.stall
            while self._out and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
        self._streams, self._pa = [], None
        await asyncio.to_thread(self._release, streams, pa, streams[-1] if self.output else None,
                                (self._hear_state, self._play_state))

    @staticmethod
    def _release(streams, pa, player=None, states=()) -> None:
        closed = True
        for stream in streams:
            try:
                if stream is player and stream.is_active():
                    stream.stop_stream()  # plays out what the card holds
                stream.close()
            except OSError as e:
                log.debug("closing a failed stream: %s", e)
                closed = False
        pa.terminate()
        if closed:  # else a callback thread may still run: its thread state stays
            for state in states:
                state.free()

    async def reopen(self, interval: float = 1.0) -> None:
        """Open the card, trying every ``interval`` seconds until it is there."""
        reported = False
        while True:
            try:
                await self.open()
                return
            except LineError as e:
                if not reported:
                    log.warning("%s; waiting for it", e)
                    reported = True
            await asyncio.sleep(interval)


class Speaker(SoundCard):
    """Output only: prompts through a sound device found by name (the
    default device when the name is None or empty).

    >>> speaker = Speaker()
    >>> speaker.input, speaker.output
    (False, True)

    Then ``await speaker.open()`` (LineError when there is no output device),
    ``await speaker.write_frame(frame)`` per 20 ms frame, ``await speaker.close()``.
    """

    input = False


