"""Parse a TwiML document into verbs, safely and without I/O, from the verb registry.

    >>> doc = parse('<Response><Gather numDigits="1"><Say>Hi</Say></Gather></Response>',
    ...             "http://example.com/ivr")
    >>> doc.verbs[0].action, doc.verbs[0].num_digits, doc.verbs[0].children[0].text
    ('http://example.com/ivr', 1, 'Hi')
    >>> doc = parse('<Response><Pause length="NaN"/></Response>', "http://example.com/ivr")
    >>> doc.verbs[0].length, str(doc.warnings[0])
    (1.0, "<Pause length='NaN'> is not a finite number; using 1.0")

Unknown verbs and attributes, and bad attribute values, become warnings
(with the line they are on); the call goes on as Twilio's would. A document
that does not parse raises TwimlError with code 12100.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from xml.etree.ElementTree import Element, ParseError, TreeBuilder

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser

from . import verbs
from .schema import Attr, BadValue, Problem
from .verbs import Verb

MAX_DOCUMENT = 64 * 1024


class TwimlError(Exception):
    def __init__(self, code: int, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass
class Document:
    url: str
    verbs: list[Verb]
    warnings: list[Problem] = field(default_factory=list)


class _Skip(Exception):
    pass


class _LineBuilder(TreeBuilder):
    """Notes the line each element starts on."""

    def __init__(self):
        super().__init__()
        self.parser: DefusedXMLParser | None = None
        self.lines: dict[Element, int] = {}

    def start(self, tag, attrs):
        el = super().start(tag, attrs)
        self.lines[el] = self.parser.parser.CurrentLineNumber
        return el


def parse_xml(text: str | bytes) -> tuple[Element, dict[Element, int]]:
    """The root element and each element's line; raises TwimlError 12100."""
    if len(text) > MAX_DOCUMENT:
        raise TwimlError(12100, f"document is {len(text)} bytes, over the {MAX_DOCUMENT}-byte limit")
    builder = _LineBuilder()
    parser = builder.parser = DefusedXMLParser(target=builder, forbid_dtd=True)
    try:
        parser.feed(text)
        root = parser.close()
    except DefusedXmlException as e:
        raise TwimlError(12100, f"document refused: {type(e).__name__}") from None
    except ParseError as e:
        raise TwimlError(12100, f"document parse failure: {e}") from None
    if root.tag != "Response":
        raise TwimlError(12100, f"root element must be <Response>, not <{root.tag}>")
    return root, builder.lines


def parse(text: str | bytes, url: str) -> Document:
    root, lines = parse_xml(text)
    doc = Document(url=url, verbs=[])
    reader = _Reader(url, doc.warnings, lines)
    for child in root:
        verb = reader.verb(child, None)
        if verb is not None:
            doc.verbs.append(verb)
    return doc


class _Reader:
    def __init__(self, url: str, warnings: list[Problem], lines: dict[Element, int]):
        self.url = url
        self.warnings = warnings
        self.lines = lines

    def warn(self, el: Element, message: str) -> None:
        self.warnings.append(Problem(message, self.lines.get(el, 0)))

    def verb(self, el: Element, parent: type[Verb] | None) -> Verb | None:
        cls = verbs.lookup(el.tag)
        allowed = cls is not None and (el.tag in parent.nests if parent else cls.top_level)
        if not allowed:
            where = f"inside <{parent.tag}>" if parent else "in <Response>"
            self.warn(el, f"<{el.tag}> is not supported {where}; skipped")
            return None
        known = {a.name for a in cls.attributes}
        for name in sorted(el.attrib.keys() - known if not cls.unsupported else ()):
            self.warn(el, f"<{el.tag}> attribute {name!r} is not supported; ignored")
        try:
            values = {a.key: self.value(el, a, el.attrib.get(a.name)) for a in cls.attributes}
            if cls.markup:
                values.update(cls.read_markup(el))
            elif cls.body is not None:
                values[cls.body.key] = self.value(el, cls.body, el.text or "", text=True)
        except _Skip:
            return None
        children = []
        for child in el if not cls.markup else ():
            if cls.nests:
                children.append(self.verb(child, cls))
            else:
                self.warn(child, f"<{child.tag}> inside <{el.tag}> is not supported; ignored")
        verb = cls.build(values, [c for c in children if c is not None], lambda message: self.warn(el, message))
        if verb is not None:
            verb.line = self.lines.get(el, 0)
            verb.given = frozenset(el.attrib.keys() & known)
        return verb

    def value(self, el: Element, attr: Attr, raw: str | None, text: bool = False):
        if raw is None:
            return attr.resolve(attr.default, self.url)
        try:
            return attr.resolve(attr.read(raw), self.url)
        except BadValue as e:
            if e.keep is not None:
                shown = f"<{el.tag}>{raw.strip()}</{el.tag}>" if text else f"<{el.tag} {attr.name}={raw!r}>"
                self.warn(el, f"{shown} {e}; requesting it will fail with error 11100")
                return e.keep
            if text:
                self.warn(el, f"<{el.tag}>{raw.strip()}</{el.tag}> {e}; skipped")
                raise _Skip from None
            default = attr.resolve(attr.default, self.url)
            self.warn(el, f"<{el.tag} {attr.name}={raw!r}> {e}; using {default!r}")
            return default
