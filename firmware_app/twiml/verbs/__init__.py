"""The verb registry: one module per TwiML verb or noun, looked up by tag.

Parsing, running, lint and the cache crawl all read this table. A new verb
is one module with a ``Verb`` subclass, registered with ``@register``, and
its import below:

    >>> from firmware_app.twiml.verbs import lookup
    >>> lookup("Gather").nests
    ('Say', 'Play', 'Pause')
    >>> lookup("Dance") is None
    True
"""

from __future__ import annotations

from .base import CONTINUE, STOP, Follow, Link, Outcome, Verb

REGISTRY: dict[str, type[Verb]] = {}


def register(cls: type[Verb]) -> type[Verb]:
    """Add a verb class to the registry (a class decorator)."""
    if not cls.tag:
        raise ValueError(f"{cls.__name__} has no tag")
    REGISTRY[cls.tag] = cls
    return cls


def unregister(tag: str) -> None:
    REGISTRY.pop(tag, None)


def lookup(tag: str) -> type[Verb] | None:
    return REGISTRY.get(tag)


from .say import Say  # noqa: E402  (the built-in verbs register themselves)
from .play import Play  # noqa: E402
from .pause import Pause  # noqa: E402
from .gather import Gather  # noqa: E402
from .redirect import Redirect  # noqa: E402
from .hangup import Hangup  # noqa: E402
from .reject import Reject  # noqa: E402
from .record import Record  # noqa: E402

__all__ = ["CONTINUE", "STOP", "Follow", "Gather", "Hangup", "Link", "Outcome", "Pause", "Play", "Record", "Redirect",
           "Reject", "Say", "Verb", "lookup", "register", "unregister"]
