"""The verb registry: one module per TwiML verb or noun, looked up by tag.

Parsing, running, lint and the cache crawl all read this table. A new verb
is one module in this package with a ``Verb`` subclass, registered with
``@register`` (registry.py); every module here is imported at start:

    >>> from firmware_app.twiml.verbs import lookup
    >>> lookup("Gather").nests
    ('Say', 'Play', 'Pause')
    >>> lookup("Dance") is None
    True
"""

from __future__ import annotations

import importlib
import pkgutil

from .base import CONTINUE, STOP, Follow, Link, Outcome, Verb
from .registry import REGISTRY, lookup, register, unregister
from .say import Say
from .play import Play
from .pause import Pause
from .gather import Gather
from .redirect import Redirect
from .hangup import Hangup
from .reject import Reject

for _module in pkgutil.iter_modules(__path__):
    if _module.name not in ("base", "registry"):
        importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["CONTINUE", "STOP", "Follow", "Gather", "Hangup", "Link", "Outcome", "Pause", "Play", "Redirect",
           "REGISTRY", "Reject", "Say", "Verb", "lookup", "register", "unregister"]
