"""A handset's hook switch, debounced by checking the pin once it has settled.

gpiozero's ``bounce_time`` reports the first edge of a burst and ignores the
rest, so a glitch (a knock on the cradle) becomes a lift that never ends,
and a burst that starts the wrong way round reports the wrong state. Here
every edge only restarts a timer; when the pin has been quiet for
``settle`` seconds it is read again, and a change is reported only if the
level really differs from the last one reported.

Wire the switch to close to ground when the handset is lifted (use the
cradle switch's normally-open or normally-closed contact accordingly); the
pin gets the internal pull-up.

    >>> from gpiozero.pins.mock import MockFactory
    >>> import time
    >>> pins = MockFactory()
    >>> hook = HookSwitch("GPIO22", settle=0.02, pin_factory=pins)
    >>> seen = []
    >>> hook.when_changed = seen.append
    >>> pin = pins.pin(22)
    >>> pin.drive_low(); pin.drive_high(); pin.drive_low()   # lifted, with bounce
    >>> time.sleep(0.1)
    >>> seen, hook.is_lifted
    ([True], True)
    >>> hook.close()
"""

from __future__ import annotations

import threading
import time

from gpiozero import DigitalInputDevice


class HookSwitch:
    """``is_lifted`` is the debounced state; ``when_changed(lifted)`` is called
    on a thread of its own for every verified change."""

    def __init__(self, pin, *, settle: float = 0.05, pin_factory=None) -> None:
        self.settle = settle
        self.when_changed = None
        self._input = DigitalInputDevice(pin, pull_up=True, pin_factory=pin_factory)
        self._lifted = self._input.is_active
        self._last_edge = 0.0
        self._edge = threading.Event()
        self._closed = False
        self._input.when_activated = self._input.when_deactivated = self._on_edge
        self._thread = threading.Thread(target=self._watch, name="hook", daemon=True)
        self._thread.start()

    @property
    def is_lifted(self) -> bool:
        return self._lifted

    def _on_edge(self) -> None:
        self._last_edge = time.monotonic()
        self._edge.set()

    def _watch(self) -> None:
        while not self._closed:
            self._edge.wait()
            self._edge.clear()
            while not self._closed:
                quiet = time.monotonic() - self._last_edge
                if quiet >= self.settle:
                    break
                time.sleep(self.settle - quiet)
            if self._closed:
                return
            lifted = self._input.is_active
            if lifted != self._lifted:
                self._lifted = lifted
                if self.when_changed is not None:
                    self.when_changed(lifted)

    def close(self) -> None:
        self._closed = True
        self._edge.set()
        self._thread.join()
        self._input.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
