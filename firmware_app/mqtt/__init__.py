"""MQTT: the box publishes its lines, calls and counters to the user's broker.

Off unless ``[mqtt] url`` is set. ``build()`` gives the daemon a reporter;
with MQTT off it is one that does nothing, so the daemon's code is the same.

    >>> from firmware_app.config import load
    >>> isinstance(build(load(None), lines=1), Quiet)
    True
"""

from __future__ import annotations

from typing import Awaitable, Callable

from .publisher import Publisher
from .reporter import Quiet, Reporter
from .settings import Topics, box_id, broker


def build(config: dict, *, lines: int, commands: dict[str, Callable[[], Awaitable[str]]] | None = None,
          voicemail: Callable[[], int] = lambda: 0, outbox: Callable[[], int] = lambda: 0,
          server_up: Callable[[], bool] = lambda: True) -> Reporter | Quiet:
    section = config["mqtt"]
    if not section["url"]:
        return Quiet()
    from .. import __version__

    box = box_id(section)
    topics = Topics(section["topic_prefix"], box)
    publisher = Publisher(broker(section), topics, buffer=section["buffer"], client_id=f"ivrbox-{box}",
                          commands=commands)
    return Reporter(publisher, lines, voicemail=voicemail, outbox=outbox, server_up=server_up,
                    discovery_prefix=section["discovery_prefix"], box=box, version=__version__)


__all__ = ["Publisher", "Quiet", "Reporter", "Topics", "build"]
