"""The verb registry: one module per TwiML verb or noun, looked up by tag.

Parsing, running, lint and the cache crawl all read this table. A new verb
is one module in this package, named for its tag (registry.py), with a
``Verb`` subclass registered with ``@register``:

    >>> from firmware_app.twiml.verbs import lookup
    >>> lookup("Gather").nests
    ('Say', 'Play', 'Pause')
    >>> lookup("Dance") is None
    True
"""

from __future__ import annotations

from .base import CONTINUE, STOP, Follow, Link, Outcome, Verb
from .registry import load_all, lookup, register, unregister

__all__ = ["CONTINUE", "STOP", "Follow", "Link", "Outcome", "Verb", "load_all", "lookup", "register", "unregister"]
