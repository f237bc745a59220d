"""A modem line on the fake modem (fake_modem.py), for the modem tests: opened
by URL with short AT timeouts, answered, and its events and audio read."""

import asyncio

from drivers import open_line

FAST = "at_timeout=0.5&keepalive=0"


def run(coro, timeout=10):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def line_for(fake, options=""):
    return open_line(f"modem://{fake.path}?{FAST}&{options}".rstrip("&"))


def events_of(line, kind=None):
    out = []
    while not line.events.empty():
        event = line.events.get_nowait()
        if kind is None or event.kind == kind:
            out.append(event)
    return out


async def answered(fake, options="rings=1"):
    line = line_for(fake, options)
    await line.open()
    fake.ring(1)
    await line.wait_for_call()
    await line.answer()
    return line


async def read_pcm(line, frames):
    return b"".join([await line.read_frame() for _ in range(frames)])
