"""A 3x4 or 4x4 matrix keypad scanned with gpiozero.

Rows are outputs driven low one at a time; columns are inputs with pull-ups,
so a pressed key pulls its column low while its row is driven. While no key
is down every row is driven and the columns' edges wake the scanner, so an
idle keypad costs nothing. While keys are down the matrix is scanned every
``period`` seconds, and a key counts as pressed (or released) once it has
read the same in ``stable`` scans in a row, which absorbs contact bounce.

The line URL spells a keypad as ``rows:5,6,13,19;cols:12,16,20`` (BCM
numbers or gpiozero pin names), optionally followed by ``;keys:`` and the
labels row by row; the labels default to the phone layout for 3 columns and
``123A456B789C*0#D`` for 4.

    >>> from gpiozero.pins.mock import MockFactory
    >>> pins = MockFactory()
    >>> rows, cols, keys = parse_keypad("rows:5,6,13,19;cols:12,16,20")
    >>> keys
    '123456789*0#'
    >>> pad = MatrixKeypad(rows, cols, keys, pin_factory=pins)
    >>> pad.when_pressed = print
    >>> [pins.pin(r).state for r in rows]   # idle: every row driven low
    [False, False, False, False]
    >>> pad.close()
"""

from __future__ import annotations

import threading
import time

from gpiozero import DigitalInputDevice, OutputDevice

from .constants import DTMF_KEYS

LAYOUTS = {3: "123456789*0#", 4: DTMF_KEYS}


class KeypadError(ValueError):
    """The keypad spec cannot describe a keypad."""


def parse_keypad(spec: str) -> tuple[list, list, str]:
    """``rows:..;cols:..[;keys:..]`` -> (row pins, column pins, key labels).

    >>> parse_keypad("rows:5,6,13,19;cols:GPIO12,16,20,21;keys:123A456B789C*0#D")
    ([5, 6, 13, 19], ['GPIO12', 16, 20, 21], '123A456B789C*0#D')
    """
    parts = {}
    for part in spec.split(";"):
        name, sep, value = part.partition(":")
        if not sep or name.strip() not in ("rows", "cols", "keys") or name.strip() in parts:
            raise KeypadError(f"keypad {spec!r}: expected rows:PINS;cols:PINS[;keys:LABELS], "
                              f"got {part!r}")
        parts[name.strip()] = value.strip()
    if "rows" not in parts or "cols" not in parts:
        raise KeypadError(f"keypad {spec!r}: both rows: and cols: are needed")
    rows, cols = (_pins(parts[k]) for k in ("rows", "cols"))
    if len(rows) != 4 or len(cols) not in LAYOUTS:
        raise KeypadError(f"keypad {spec!r}: a 3x4 or 4x4 keypad has 4 rows and 3 or 4 columns, "
                          f"not {len(rows)} and {len(cols)}")
    if len(set(map(str, rows + cols))) != len(rows) + len(cols):
        raise KeypadError(f"keypad {spec!r}: a pin is used twice")
    keys = parts.get("keys", LAYOUTS[len(cols)])
    if len(keys) != len(rows) * len(cols):
        raise KeypadError(f"keypad {spec!r}: {len(rows) * len(cols)} keys needed, "
                          f"{len(keys)} given")
    return rows, cols, keys


def _pins(text: str) -> list:
    pins = [p.strip() for p in text.split(",") if p.strip()]
    return [int(p) if p.isdigit() else p for p in pins]


class MatrixKeypad:
    """Calls ``when_pressed(label)`` (from its scanning thread) once per press."""

    def __init__(self, rows, cols, keys: str | None = None, *, period: float = 0.01,
                 stable: int = 3, pin_factory=None) -> None:
        keys = keys or LAYOUTS[len(cols)]
        self.labels = [keys[r * len(cols):(r + 1) * len(cols)] for r in range(len(rows))]
        self.period, self.stable = period, stable
        self.when_pressed = None
        self._rows, self._cols = [], []
        try:
            for pin in rows:
                self._rows.append(OutputDevice(pin, active_high=False, initial_value=True,
                                               pin_factory=pin_factory))
            for pin in cols:
                col = DigitalInputDevice(pin, pull_up=True, pin_factory=pin_factory)
                col.when_activated = self._wake
                self._cols.append(col)
        except Exception:
            self._close_devices()
            raise
        self._woken = threading.Event()
        self._scanning = threading.Lock()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="keypad", daemon=True)
        self._thread.start()

    def _wake(self) -> None:
        self._woken.set()

    def scan(self) -> set[str]:
        """The labels of the keys down right now (one pass over the rows)."""
        with self._scanning:  # the scanning thread and a caller must not drive the rows at once
            down = set()
            for row in self._rows:
                row.off()
            for r, row in enumerate(self._rows):
                row.on()
                down.update(self.labels[r][c] for c, col in enumerate(self._cols) if col.is_active)
                row.off()
            return down

    def _run(self) -> None:
        while not self._closed:
            self._woken.wait()
            self._woken.clear()
            self._scan_until_released()
            with self._scanning:
                for row in self._rows:
                    row.on()
            if any(col.is_active for col in self._cols):
                self._woken.set()

    def _scan_until_released(self) -> None:
        pressed: set[str] = set()
        runs: dict[str, int] = {}  # key -> scans in a row that disagree with `pressed`
        idle_scans = 0
        while not self._closed and idle_scans < self.stable:
            down = self.scan()
            for key in down | pressed | set(runs):
                if (key in down) != (key in pressed):
                    runs[key] = runs.get(key, 0) + 1
                    if runs[key] >= self.stable:
                        del runs[key]
                        if key in down:
                            pressed.add(key)
                            if self.when_pressed is not None:
                                self.when_pressed(key)
                        else:
                            pressed.discard(key)
                else:
                    runs.pop(key, None)
            idle_scans = idle_scans + 1 if not (down or pressed or runs) else 0
            time.sleep(self.period)

    def _close_devices(self) -> None:
        for device in self._rows + self._cols:
            device.close()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._woken.set()
        self._thread.join()
        self._close_devices()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
