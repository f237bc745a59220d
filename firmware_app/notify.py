"""Tell systemd how the daemon is doing: sd_notify(3) with no dependency.

    >>> from firmware_app.notify import notify, watchdog
    >>> notify("READY=1", "STATUS=waiting for calls")   # False outside systemd
    False

Under ``Type=notify`` systemd passes the socket in ``$NOTIFY_SOCKET`` (a path,
or an abstract name written with a leading ``@``) and, with ``WatchdogSec=``,
the deadline in ``$WATCHDOG_USEC``. Run ``watchdog()`` as a task on the
daemon's own event loop: its pings stop when that loop is blocked or when
``loop_alive()`` says the daemon is stuck, and systemd then restarts the unit.
``Progress`` is that test for a box of lines: each line's serve loop says
whether it waits (for a call, for a device) or works, and how far its work
has got; a line whose work stands still is stuck.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from typing import Callable


def _address() -> str | None:
    address = os.environ.get("NOTIFY_SOCKET", "")
    if not address:
        return None
    if address.startswith("@"):
        return "\0" + address[1:]
    if address.startswith("/"):
        return address
    raise ValueError(f"NOTIFY_SOCKET={address!r}: expected an absolute path or an @abstract name")


def notify(*lines: str) -> bool:
    """Send ``KEY=value`` lines in one datagram; False when not run by systemd or the send failed."""
    for line in lines:
        if "=" not in line or "\n" in line:
            raise ValueError(f"sd_notify line {line!r}: expected one KEY=value line")
    address = _address()
    if address is None:
        return False
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
        try:
            sock.sendto("\n".join(lines).encode(), address)
        except OSError:
            return False
    return True


def watchdog_interval() -> float | None:
    """Seconds systemd waits for a ping ($WATCHDOG_USEC), or None when the watchdog is off for this process."""
    usec = os.environ.get("WATCHDOG_USEC", "")
    if not usec:
        return None
    pid = os.environ.get("WATCHDOG_PID", "")
    if pid and pid != str(os.getpid()):
        return None
    if not usec.isdigit() or int(usec) == 0:
        raise ValueError(f"WATCHDOG_USEC={usec!r}: expected a positive number of microseconds")
    return int(usec) / 1e6


async def watchdog(loop_alive=lambda: True) -> None:
    """Ping systemd at half the interval while ``loop_alive()`` is true; return at once if there is no watchdog.

    The pings are sent from this coroutine, on the daemon's event loop, never
    from a thread: a thread would keep pinging while the loop hangs.
    """
    interval = watchdog_interval()
    if interval is None:
        return
    while True:
        if loop_alive():
            notify("WATCHDOG=1")
        await asyncio.sleep(interval / 2)


class Progress:
    """Each line's progress, for the watchdog: ``alive()`` is false once a line
    has worked without moving on for ``patience`` seconds.

    A line that waits for a call (or for its device) is fine however long it
    waits; a line in a call gives a probe whose value must keep changing
    (the call's frame count), and a call that has ended must let its line
    go back to waiting within ``patience``.

    >>> progress = Progress(patience=0.0)
    >>> frames = [0]
    >>> progress.working(1, lambda: frames[0])
    >>> progress.alive()
    True
    >>> frames[0] += 1; progress.alive()
    True
    >>> progress.alive()      # no frame since the last look
    False
    >>> progress.waiting(1); progress.alive()
    True
    """

    def __init__(self, patience: float) -> None:
        self.patience = patience
        self._probes: dict[int, Callable[[], object]] = {}
        self._last: dict[int, tuple[object, float]] = {}

    def waiting(self, line: int) -> None:
        self._probes.pop(line, None)
        self._last.pop(line, None)

    def working(self, line: int, probe: Callable[[], object]) -> None:
        """``probe()`` tells how far the work has got; None while nothing can be judged yet."""
        self._probes[line] = probe
        self._last.pop(line, None)

    def alive(self) -> bool:
        now, stuck = time.monotonic(), []
        for line, probe in self._probes.items():
            value = probe()
            seen = self._last.get(line)
            if value is None or seen is None or seen[0] != value:
                self._last[line] = (value, now)
            elif now - seen[1] >= self.patience:
                stuck.append(line)
        return not stuck
