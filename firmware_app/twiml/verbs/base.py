"""What every verb is: its schema, its parse step, its run step.

A verb is a dataclass subclass of ``Verb`` with its schema in class
variables. The parser reads ``attributes``, ``body`` (the text) and ``nests``;
the interpreter awaits ``run(channel)``, which says what happens next:

- ``CONTINUE``: the next verb in the document;
- ``Follow(url, method, params, caller_input)``: request the next document;
- ``STOP``: the call ends.

The cache crawl and lint read ``links()``, made from the schema's URL
attributes; ``lint(context)`` adds a verb's own checks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Awaitable, Callable, ClassVar, Iterator

from ..schema import Attr

if TYPE_CHECKING:
    from ..channel import Channel


@dataclass(frozen=True)
class Follow:
    """Request the next document. ``caller_input`` marks params the caller entered
    (the web stack keeps them for later delivery when the server is down)."""

    url: str
    method: str = "POST"
    params: dict[str, str] = field(default_factory=dict)
    caller_input: bool = False


class _Outcome:
    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return self.name


CONTINUE = _Outcome("CONTINUE")
STOP = _Outcome("STOP")
Outcome = Follow | _Outcome


FOREVER = 1000  # loop="0": Twilio repeats until the call ends; the box stops after this many


async def repeat(ch: Channel, times: int, once: Callable[[], Awaitable[None]]) -> None:
    """Await ``once()`` TIMES times (0: FOREVER), stopping after a round that took no call
    time: it played nothing, and repeating it would only spin without the call moving on."""
    for _ in range(times or FOREVER):
        start = ch.now
        await once()
        if ch.now == start:
            break


@dataclass(frozen=True)
class Link:
    """A URL a verb can lead to: a document ("twiml") or a sound ("audio"), with
    the parameter sets a crawl should try (the empty set: none)."""

    kind: str
    url: str
    method: str = "GET"
    params: tuple[dict[str, str], ...] = ({},)


@dataclass
class Verb:
    tag: ClassVar[str] = ""
    attributes: ClassVar[tuple[Attr, ...]] = ()
    body: ClassVar[Attr | None] = None        # schema of the element's text; None: it takes none
    nests: ClassVar[tuple[str, ...]] = ()     # tags it may nest (into its children field)
    top_level: ClassVar[bool] = True          # may stand in <Response>
    final: ClassVar[bool] = False             # nothing after it in a document runs
    markup: ClassVar[bool] = False            # its children are markup (SSML), read by read_markup
    unsupported: ClassVar[str] = ""           # why the box cannot perform it: it warns once, takes any attributes

    line: int = field(default=0, kw_only=True, compare=False, repr=False)
    given: frozenset[str] = field(default=frozenset(), kw_only=True, compare=False, repr=False)  # attributes set

    @classmethod
    def build(cls, values: dict[str, Any], children: list[Verb], warn: Callable[[str], None]) -> Verb | None:
        """The verb from its checked values; None skips it (after a warning)."""
        if cls.nests:
            values = {**values, "children": children}
        return cls(**values)

    @classmethod
    def read_markup(cls, el) -> dict[str, Any]:
        """The values a ``markup`` verb takes from its element's text and child tags."""
        return {}

    async def run(self, ch: Channel) -> Outcome:
        return CONTINUE

    def links(self) -> Iterator[Link]:
        for attr in (*self.attributes, *((self.body,) if self.body else ())):
            url = getattr(self, attr.key)
            if getattr(attr, "follow", "") and url:
                method = getattr(self, attr.method) if attr.method else "GET"
                yield Link(attr.follow, url, method, self.crawl_params() if attr.follow == "twiml" else ({},))

    def crawl_params(self) -> tuple[dict[str, str], ...]:
        """The parameter sets to try when crawling this verb's documents."""
        return ({},)

    def lint(self, context) -> Iterator[tuple[str, str]]:
        """(level, message) pairs beyond the schema: what this verb can get wrong."""
        return iter(())

    def walk(self) -> Iterator[Verb]:
        yield self
        for child in getattr(self, "children", ()):
            yield from child.walk()
