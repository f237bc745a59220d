"""Typed options for line URLs, one parser for every line.

Each line declares its options as ``{name: Option(kind, default, ...)}``;
``parse_options`` checks what a URL (or a caller in Python) gave against
them and answers with the converted values, defaults filled in, or a
LineError that names the line, the option and what is wrong.

    >>> SPEC = {"rings": Option(int, 2, least=1), "codec": Option(str, "auto", choices=("auto", "ulaw"))}
    >>> parse_options("modem", {"rings": "3"}, SPEC)
    namespace(rings=3, codec='auto')
    >>> parse_options("modem", {"rings": "0"}, SPEC)
    Traceback (most recent call last):
    drivers.line.LineError: modem option rings='0' must be at least 1
    >>> parse_options("modem", {"colour": "red"}, SPEC)
    Traceback (most recent call last):
    drivers.line.LineError: unknown modem option(s) colour: use rings, codec
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Callable

from .constants import ECHO_MAX_LAG, FRAME_SECONDS
from .line import LineError

_WHAT = {int: "an integer", float: "a number"}


def pin(spec) -> int | str:
    """A GPIO pin as gpiozero takes it: a bare number is a BCM number, else a name like ``GPIO17``.

    >>> pin("17"), pin("GPIO17")
    (17, 'GPIO17')
    """
    return int(spec) if str(spec).isdigit() else str(spec)


@dataclass(frozen=True)
class Option:
    """One option: ``kind`` converts the text (int, float, str, or a parser
    raising ValueError), ``default`` is used when it is not given (None: not
    set), ``least`` and ``most`` bound numbers, ``choices`` lists the allowed values."""

    kind: Callable = str
    default: object = None
    least: float | None = None
    most: float | None = None
    choices: tuple = ()

    def convert(self, line: str, name: str, value):
        if value is None:
            return None
        try:
            out = self.kind(value)
        except (TypeError, ValueError) as e:
            what = _WHAT.get(self.kind)
            problem = f"={value!r} is not {what}" if what else f": {e}"
            raise LineError(f"{line} option {name}{problem}") from None
        if isinstance(out, float) and not math.isfinite(out):
            raise LineError(f"{line} option {name}={value!r} is not a finite number")
        if self.least is not None and out < self.least:
            raise LineError(f"{line} option {name}={value!r} must be at least {self.least:g}")
        if self.most is not None and out > self.most:
            raise LineError(f"{line} option {name}={value!r} must be at most {self.most:g}")
        if self.choices and out not in self.choices:
            raise LineError(f"{line} option {name}={value!r} must be one of {', '.join(self.choices)}")
        return out


#: A 2-wire line's URL options for its echo canceller (drivers.echo): ``echo=on|off``
#: (on by default on 2-wire lines), ``echo_tail`` and ``echo_delay`` in ms.
ECHO_OPTIONS = {
    "echo": Option(str, choices=("on", "off")),
    "echo_tail": Option(int, 64, least=20, most=1000),
    "echo_delay": Option(int, 0, least=0, most=round(ECHO_MAX_LAG * FRAME_SECONDS * 1000)),
}


def echo_wanted(o, two_wire: bool) -> bool:
    """Whether parsed ECHO_OPTIONS ask for a canceller: ``echo=on``, or by default on a 2-wire line.

    >>> echo_wanted(SimpleNamespace(echo=None), two_wire=True), echo_wanted(SimpleNamespace(echo="off"), True)
    (True, False)
    """
    return o.echo == "on" or (o.echo is None and two_wire)


def parse_options(line: str, given: dict, spec: dict[str, Option]) -> SimpleNamespace:
    """Check ``given`` (URL text or Python values) against ``spec``; see the module docstring."""
    unknown = sorted(set(given) - set(spec))
    if unknown:
        raise LineError(f"unknown {line} option(s) {', '.join(unknown)}: use {', '.join(spec)}")
    return SimpleNamespace(**{name: option.convert(line, name, given.get(name, option.default))
                              for name, option in spec.items()})
