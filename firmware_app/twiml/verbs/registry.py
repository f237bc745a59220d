"""The table of verbs by tag. Verb modules add themselves with ``@register``."""

from __future__ import annotations

from .base import Verb

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
