"""Call time, counted in 20 ms audio frames.

The call's frame pump calls ``tick()`` once per frame; coroutines sleep on
frame deadlines with ``await clock.sleep(seconds)``. On a hardware line the
frames arrive in real time, in the simulator as fast as the CPU allows, so
the same code gives real calls and fast, deterministic tests.

    >>> clock = Clock()
    >>> for _ in range(50): clock.tick()
    >>> clock.t
    1.0
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from contextlib import contextmanager

from drivers.constants import FRAME_SECONDS


class Clock:
    def __init__(self) -> None:
        self.frames = 0
        self._timers: list[tuple[int, int, asyncio.Future]] = []
        self._seq = itertools.count()
        self._holds = 0
        self._released = asyncio.Event()
        self._released.set()

    @property
    def t(self) -> float:
        return round(self.frames * FRAME_SECONDS, 3)

    def tick(self) -> None:
        self.frames += 1
        while self._timers and self._timers[0][0] <= self.frames:
            _, _, fut = heapq.heappop(self._timers)
            if not fut.done():
                fut.set_result(None)

    async def sleep(self, seconds: float) -> None:
        frames = max(0, round(seconds / FRAME_SECONDS))
        if frames == 0:
            return
        fut = asyncio.get_running_loop().create_future()
        heapq.heappush(self._timers, (self.frames + frames, next(self._seq), fut))
        await fut

    async def get(self, queue: asyncio.Queue, timeout: float | None):
        """QUEUE's next item, or None once TIMEOUT call seconds pass without one (None: no limit)."""
        if timeout is None or not queue.empty():
            return await queue.get()
        get = asyncio.ensure_future(queue.get())
        sleep = asyncio.ensure_future(self.sleep(timeout))
        done, pending = await asyncio.wait({get, sleep}, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        return get.result() if get in done else None

    @contextmanager
    def hold(self):
        """Stop virtual time while work that is not audio (a fetch, a synthesis) runs."""
        self._holds += 1
        self._released.clear()
        try:
            yield
        finally:
            self._holds -= 1
            if self._holds == 0:
                self._released.set()

    async def settle(self) -> None:
        """In the simulator, let every task run until it is parked on a clock or a line.

        Every simulated call in the process settles on one shared watcher
        (see ``_quiet``): if each call spun on its own, each would see the
        others spinning as work to wait for, and none would ever settle.
        """
        while True:
            if self._holds:
                await self._released.wait()
            await _quiet()
            if not self._holds:
                return


_watches: dict[asyncio.AbstractEventLoop, asyncio.Future] = {}


async def _quiet() -> None:
    """Return when nothing in the loop is runnable but the settling calls themselves.

    One watcher task per loop spins; the callers wait on its future, so
    they count as parked. asyncio has no public way to ask whether anything
    is runnable, so the watcher reads the loop's ready queue and each task's
    pending future, and wants two quiet passes in a row: a callback
    scheduled behind it in the same loop pass is only visible on the next one.
    """
    loop = asyncio.get_running_loop()
    watch = _watches.get(loop)
    if watch is None or watch.done():
        watch = _watches[loop] = loop.create_future()
        task = loop.create_task(_watch(loop, watch))
        task.add_done_callback(lambda _: _watches.pop(loop, None) if _watches.get(loop) is watch else None)
    await asyncio.shield(watch)


async def _watch(loop: asyncio.AbstractEventLoop, watch: asyncio.Future) -> None:
    me = asyncio.current_task()
    quiet = 0
    while quiet < 2:
        await asyncio.sleep(0)
        quiet = quiet + 1 if _parked(loop, me) else 0
    if not watch.done():
        watch.set_result(None)


def _parked(loop: asyncio.AbstractEventLoop, me: asyncio.Task | None) -> bool:
    if getattr(loop, "_ready", None):
        return False
    for task in asyncio.all_tasks(loop):
        if task is me:
            continue
        waiter = getattr(task, "_fut_waiter", None)
        if waiter is None or waiter.done():
            return False
    return True
