"""Lines, opened by URL in the style of pyserial's ``serial_for_url``.

    >>> from drivers import open_line
    >>> line = open_line("console:")

Each scheme names a module in this package and the Line class in it. The
module is imported only when its scheme is used, so a box without PyAudio can
still open a modem line.
"""

from __future__ import annotations

import importlib
from urllib.parse import parse_qsl, urlsplit

from .line import CallInfo, HungUp, Line, LineError, LineEvent

SCHEMES = {
    "console": ("drivers.console", "ConsoleLine"),
    "sim": ("drivers.sim", "SimLine"),
    "sound": ("drivers.sound", "SoundLine"),
    "modem": ("drivers.modem", "ModemLine"),
    "kiosk": ("drivers.kiosk", "KioskLine"),
}


def parse_url(url: str) -> tuple[str, str, dict[str, str]]:
    """Split a line URL into (scheme, target, options).

    >>> parse_url("sound://USB?hook=GPIO17&ring=GPIO27")
    ('sound', 'USB', {'hook': 'GPIO17', 'ring': 'GPIO27'})
    >>> parse_url("modem:///dev/ttyACM0")
    ('modem', '/dev/ttyACM0', {})
    """
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES:
        known = ", ".join(f"{s}:" for s in SCHEMES)
        raise LineError(f"unknown line URL {url!r}: the scheme must be one of {known}")
    target = parts.netloc + parts.path
    return parts.scheme, target, dict(parse_qsl(parts.query))


def open_line(url: str, **kwargs) -> Line:
    """Build the Line for ``url``; extra keyword arguments go to its constructor."""
    scheme, target, options = parse_url(url)
    module_name, class_name = SCHEMES[scheme]
    cls = getattr(importlib.import_module(module_name), class_name)
    return cls(target, **options, **kwargs)


__all__ = ["CallInfo", "HungUp", "Line", "LineError", "LineEvent", "open_line", "parse_url"]
