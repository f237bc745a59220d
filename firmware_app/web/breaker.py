"""The circuit breaker: an origin that gave no answer is down until it answers again.

While an origin (scheme, host and port) is down, every fetch to it fails at
once instead of making the caller wait out another connect timeout; the
offline fetcher then goes straight to its fallbacks. A background task
probes the origin itself (its root, never the URL that failed) every
``interval`` seconds, and any answer from the origin, the probe's or a
live request's, closes the breaker.

    >>> import asyncio
    >>> async def demo():
    ...     probes = []
    ...     async def probe(origin):            # the origin answers its second probe
    ...         probes.append(origin)
    ...         return len(probes) == 2
    ...     breaker = Breaker(probe, interval=0.01)
    ...     breaker.trip("http://127.0.0.1:8080/ivr", "connection refused")
    ...     down = breaker.is_open("http://127.0.0.1:8080/other"), breaker.is_open("http://127.0.0.1:9090/")
    ...     while breaker.is_open("http://127.0.0.1:8080/"):
    ...         await asyncio.sleep(0.01)
    ...     await breaker.stop()
    ...     return down, probes
    >>> asyncio.run(demo())
    ((True, False), ['http://127.0.0.1:8080', 'http://127.0.0.1:8080'])

Per origin, so a fallback_url on another host stays usable while the main
server is down.
"""

from __future__ import annotations

import asyncio
import time
from typing import Awaitable, Callable
from urllib.parse import urlsplit


def origin(url: str) -> str:
    """scheme://host:port, credentials left out, the default port filled in.

    >>> origin("https://ann:pw@Example.com/ivr?x=1")
    'https://example.com:443'
    >>> origin("flows:/demo/index.xml")
    'flows:'
    """
    try:
        parts = urlsplit(url)
    except ValueError:  # cannot be built: its request fails alone (11100), so it has an origin of its own
        return url
    if parts.scheme not in ("http", "https"):
        return f"{parts.scheme}:"
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        port = 0
    host = parts.hostname or ""
    return f"{parts.scheme}://{'[' + host + ']' if ':' in host else host}:{port}".lower()


class Breaker:
    def __init__(self, probe: Callable[[str], Awaitable[bool]], interval: float = 1.0,
                 on_close: Callable[[str], None] | None = None):
        self.probe = probe
        self.interval = interval
        self.on_close = on_close
        self.opened: dict[str, tuple[float, str]] = {}  # origin -> (since, why)
        self._watchers: dict[str, asyncio.Task] = {}

    def is_open(self, url: str) -> bool:
        return origin(url) in self.opened

    def why(self, url: str) -> str:
        since, why = self.opened[origin(url)]
        return f"server unreachable for {time.monotonic() - since:.1f} s ({why}); waiting for it to come back"

    def trip(self, url: str, why: str) -> None:
        key = origin(url)
        if key not in self.opened:
            self.opened[key] = (time.monotonic(), why)
        if key not in self._watchers or self._watchers[key].done():
            self._watchers[key] = asyncio.get_running_loop().create_task(self._watch(key))

    def close(self, url: str) -> None:
        """The origin answered: it is up."""
        key = origin(url)
        if self.opened.pop(key, None) is not None and self.on_close:
            self.on_close(key)

    async def _watch(self, key: str) -> None:
        while key in self.opened:
            await asyncio.sleep(self.interval)
            if key in self.opened and await self.probe(key):
                self.close(key)

    async def stop(self) -> None:
        for task in self._watchers.values():
            task.cancel()
        await asyncio.gather(*self._watchers.values(), return_exceptions=True)
        self._watchers.clear()
