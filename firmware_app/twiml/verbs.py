"""TwiML verbs as plain data. The parser builds them; the interpreter runs them."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Say:
    text: str
    voice: str = "man"
    language: str = "en-US"
    loop: int = 1


@dataclass
class Play:
    url: str = ""
    loop: int = 1
    digits: str = ""


@dataclass
class Pause:
    length: float = 1.0


@dataclass
class Gather:
    action: str
    method: str = "POST"
    timeout: float = 5.0
    finish_on_key: str = "#"
    num_digits: int | None = None
    input: frozenset[str] = frozenset({"dtmf"})
    language: str = "en-US"
    hints: list[str] = field(default_factory=list)
    partial_result_callback: str = ""
    partial_result_callback_method: str = "POST"
    profanity_filter: bool = True
    speech_timeout: float | str | None = None  # None: the timeout value; "auto"
    speech_model: str = "default"
    action_on_empty_result: bool = False
    children: list = field(default_factory=list)


@dataclass
class Redirect:
    url: str
    method: str = "POST"


@dataclass
class Hangup:
    pass


@dataclass
class Reject:
    reason: str = "rejected"


@dataclass
class Document:
    url: str
    verbs: list
    warnings: list[str] = field(default_factory=list)
