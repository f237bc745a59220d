"""The table of verbs by tag. Verb modules add themselves with ``@register``.

A verb's module is named for its tag in snake case (``<ConversationRelay>``
is ``conversation_relay``) and is imported when a document first uses the
tag, so a call loads only the verbs it meets, as pyserial loads only the
URL handlers it is asked for. A tag no module is named for (a noun such as
``<Number>``, a verb the box cannot run, a misspelling) loads them all, once.

    >>> module_name("ConversationRelay"), module_name("Hangup")
    ('conversation_relay', 'hangup')
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
import re
from pathlib import Path

from .base import Verb

REGISTRY: dict[str, type[Verb]] = {}
_OWN = {"base", "registry"}
_all_loaded = False


def register(cls: type[Verb]) -> type[Verb]:
    """Add a verb class to the registry (a class decorator)."""
    if not cls.tag:
        raise ValueError(f"{cls.__name__} has no tag")
    REGISTRY[cls.tag] = cls
    return cls


def unregister(tag: str) -> None:
    REGISTRY.pop(tag, None)


def module_name(tag: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", tag).lower()


@functools.cache
def _modules() -> frozenset[str]:
    return frozenset(m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)])) - _OWN


def load_all() -> dict[str, type[Verb]]:
    """Every verb module's verbs: the whole table (lint's and the tests' view)."""
    global _all_loaded
    if not _all_loaded:
        for name in sorted(_modules()):
            importlib.import_module(f"{__package__}.{name}")
        _all_loaded = True
    return REGISTRY


def lookup(tag: str) -> type[Verb] | None:
    cls = REGISTRY.get(tag)
    if cls is None and not _all_loaded:
        name = module_name(tag)
        if name in _modules():
            importlib.import_module(f"{__package__}.{name}")
        cls = REGISTRY.get(tag) or load_all().get(tag)
    return cls
