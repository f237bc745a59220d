"""SSML in <Say>, as Twilio documents it, rendered by espeak-ng's SSML mode.

``from_element`` turns a <Say> element into SSML espeak-ng can speak, its
plain text and warnings. Twilio's tags map to espeak-ng's: ``break``,
``emphasis``, ``p``, ``prosody``, ``s``, ``sub``, ``say-as`` (characters,
spell-out, digits, telephone) and ``lang`` (espeak's ``voice xml:lang``).
What espeak-ng cannot render (``phoneme``, ``w``, other ``say-as`` kinds,
unknown tags) is dropped with a warning, never its text.

    >>> import xml.etree.ElementTree as ET
    >>> ssml, plain, warnings = from_element(ET.fromstring(
    ...     '<Say>Press <emphasis>one</emphasis> for <w role="x">sales</w></Say>'))
    >>> ssml
    '<speak>Press <emphasis>one</emphasis> for sales</speak>'
    >>> plain, warnings
    ('Press one for sales', ['<Say> <w> cannot be rendered by espeak-ng; its text is spoken without it'])

``segments`` cuts what a <Say> holds into pieces espeak-ng synthesises one
at a time, so the first is heard while the rest are synthesised, and stops
at the character limit:

    >>> parts = segments(ssml, limit=4096)
    >>> parts.pieces, parts.plain, parts.cut
    (['<speak>Press <emphasis>one</emphasis> for sales</speak>'], 'Press one for sales', False)
    >>> segments("Hello there. Goodbye now.", limit=9).pieces
    ['<speak>Hello the</speak>']
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from xml.etree.ElementTree import Element, ParseError
from xml.sax.saxutils import escape, quoteattr

import defusedxml.ElementTree as SafeET

XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
FIRST_PIECE = 100  # characters: short, so the first audio comes quickly
PIECE = 300
SENTENCE_END = re.compile(r"[.!?][\"')\]]*\s*$")
CLAUSE_END = re.compile(r"[,;:]\s*$")
WORD = re.compile(r"\s*\S+\s*|\s+")

BREAK_STRENGTH = {"none", "x-weak", "weak", "medium", "strong", "x-strong"}
BREAK_TIME = re.compile(r"(\d+(?:\.\d+)?)(ms|s)")
MAX_BREAK_SECONDS = 10.0
EMPHASIS = {"strong", "moderate", "reduced", "none", "x-strong"}
VOLUME = re.compile(r"silent|x-soft|soft|medium|loud|x-loud|default|[+-]\d+(\.\d+)?dB")
RATE = re.compile(r"x-slow|slow|medium|fast|x-fast|default|(\d+(?:\.\d+)?)%")
PITCH = re.compile(r"x-low|low|medium|high|x-high|default|[+-]?\d+(\.\d+)?%")
RATE_PERCENT = (20.0, 400.0)
SAY_AS = {"characters": "characters", "spell-out": "characters", "digits": "tts:digits",
          "telephone": "tts:digits"}
LANGUAGE = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*")
MAX_DEPTH = 20  # SSML nesting kept; deeper tags are dropped (a 64 KB document can nest thousands)
MAX_WARNINGS = 10  # per <Say>: a document full of bad tags must not flood the events
DROPPED = "<Say> <{}> cannot be rendered by espeak-ng; its text is spoken without it"


NO_TEXT = "<Say> has no text"


def from_markup(markup: str) -> tuple[str, str, list[str]]:
    """from_element for the content of a <Say> kept as markup (see twiml/verbs/say.py).

    >>> from_markup("Press <emphasis>one</emphasis> &amp; wait")[:2]
    ('<speak>Press <emphasis>one</emphasis> &amp; wait</speak>', 'Press one & wait')
    """
    return from_element(SafeET.fromstring(f"<Say>{markup}</Say>", forbid_dtd=True))


def from_element(el: Element) -> tuple[str, str, list[str]]:
    """(SSML for espeak-ng, plain text, warnings) for a <Say> element."""
    out: list[str] = []
    plain: list[str] = []
    warnings: dict[str, None] = {}  # ordered, and a set: one warning per distinct problem
    _render_children(el, out, plain, warnings, 0)
    text = " ".join("".join(plain).split())
    if not text and "<break" not in "".join(out):
        _warn(warnings, NO_TEXT)
    return f"<speak>{''.join(out).strip()}</speak>", text, list(warnings)


def _render_children(el: Element, out: list[str], plain: list[str], warnings: dict[str, None], depth: int) -> None:
    if el.text:
        out.append(escape(el.text))
        plain.append(el.text)
    for child in el:
        if depth >= MAX_DEPTH:
            _warn(warnings, f"<Say> SSML nested over {MAX_DEPTH} deep; the inner tags are dropped, not their text")
            text = "".join(child.itertext())  # iterative in ElementTree's C code: no recursion
            out.append(escape(text))
            plain.append(text)
        else:
            _render(child, out, plain, warnings, depth + 1)
        if child.tail:
            out.append(escape(child.tail))
            plain.append(child.tail)


def _warn(warnings: dict[str, None], message: str) -> None:
    if len(warnings) < MAX_WARNINGS:
        warnings.setdefault(message)


def _render(el: Element, out: list[str], plain: list[str], warnings: dict[str, None], depth: int) -> None:
    tag = el.tag if isinstance(el.tag, str) else ""
    start = _start_tag(tag, el, warnings)
    if start is None:
        if tag not in ("speak", "say-as", "lang", "sub"):  # those have said why
            _warn(warnings, DROPPED.format(tag.rpartition("}")[2] or "?"))
        _render_children(el, out, plain, warnings, depth)
        return
    name = start[1:].split(None, 1)[0].rstrip("/>")
    out.append(start)
    if name in ("p", "s"):
        plain.append(" ")
    if name == "break":
        plain.append(" ")
        if el.text or len(el):
            _render_children(el, out, plain, warnings, depth)
        return
    _render_children(el, out, plain, warnings, depth)
    out.append(f"</{name}>")
    if name in ("p", "s"):
        plain.append(" ")


def _attrs(tag: str, el: Element, checks: dict, warnings: dict[str, None]) -> str:
    parts = []
    for name, value in el.attrib.items():
        name = "xml:lang" if name == XML_LANG else name
        check = checks.get(name)
        fixed = check(value) if check else None
        if fixed is None:
            _warn(warnings, f"<Say> <{tag} {name}={value!r}> is not supported; ignored")
        else:
            parts.append(f" {name}={quoteattr(fixed)}")
    return "".join(parts)


def _pattern(values: re.Pattern):
    return lambda v: v if values.fullmatch(v) else None


def _break_time(value: str) -> str | None:
    m = BREAK_TIME.fullmatch(value)
    if not m:
        return None
    seconds = float(m[1]) / (1000 if m[2] == "ms" else 1)
    return value if seconds <= MAX_BREAK_SECONDS else f"{MAX_BREAK_SECONDS:g}s"


def _rate(value: str) -> str | None:
    m = RATE.fullmatch(value)
    if not m:
        return None
    if m[1] is None:
        return value
    low, high = RATE_PERCENT
    return f"{min(max(float(m[1]), low), high):g}%"


def _start_tag(tag: str, el: Element, warnings: dict[str, None]) -> str | None:
    """The espeak-ng start tag for a Twilio SSML element, or None to drop the tag."""
    if tag == "break":
        return "<break" + _attrs(tag, el, {"strength": lambda v: v if v in BREAK_STRENGTH else None,
                                           "time": _break_time}, warnings) + "/>"
    if tag == "emphasis":
        return "<emphasis" + _attrs(tag, el, {"level": lambda v: v if v in EMPHASIS else None}, warnings) + ">"
    if tag == "prosody":
        return "<prosody" + _attrs(tag, el, {"volume": _pattern(VOLUME), "rate": _rate,
                                             "pitch": _pattern(PITCH)}, warnings) + ">"
    if tag in ("p", "s"):
        return f"<{tag}>"
    if tag == "lang":
        lang = el.get(XML_LANG) or el.get("lang") or ""
        if not LANGUAGE.fullmatch(lang):
            _warn(warnings, f"<Say> <lang xml:lang={lang!r}> is not a language tag; ignored")
            return None
        return f"<voice xml:lang={quoteattr(lang)}>"
    if tag == "say-as":
        kind = SAY_AS.get(el.get("interpret-as", ""))
        if kind is None:
            _warn(warnings, f"<Say> <say-as interpret-as={el.get('interpret-as', '')!r}> cannot be rendered "
                            "by espeak-ng; its text is spoken without it")
            return None
        return f"<say-as interpret-as={quoteattr(kind)}>"
    if tag == "sub":
        alias = el.get("alias", "")
        if not alias.strip():
            _warn(warnings, "<Say> <sub> has no alias; its text is spoken")
            return None
        return f"<sub alias={quoteattr(alias)}>"
    return None


# Cutting into pieces


@dataclass
class Pieces:
    pieces: list[str] = field(default_factory=list)
    plain: str = ""
    cut: bool = False  # the text went past the limit; the rest was dropped
    length: int = 0  # characters of text before the cut


ATOMIC = {"say-as", "sub"}  # never cut inside: their text is one unit


class _Cutter:
    def __init__(self, limit: int):
        self.limit = limit
        self.result = Pieces()
        self.parts: list[str] = []
        self.open: list[tuple[str, str]] = []  # (start tag, name)
        self.length = 0  # characters in the current piece
        self.plain: list[str] = []

    @property
    def target(self) -> int:
        return FIRST_PIECE if not self.result.pieces else PIECE

    def flush(self) -> None:
        if self.length == 0 and not any(p.startswith("<break") for p in self.parts):
            return
        closes = "".join(f"</{name}>" for _, name in reversed(self.open))
        self.result.pieces.append("<speak>" + "".join(self.parts) + closes + "</speak>")
        self.parts = [start for start, _ in self.open]
        self.length = 0

    def unit(self, markup: str, text: str) -> bool:
        """Add markup whose text must not be cut; False once the limit is reached."""
        if self.result.length + len(text) > self.limit:
            self.result.cut = True
            return False
        self.parts.append(markup)
        self.plain.append(text)
        self.length += len(text)
        self.result.length += len(text)
        if self.length >= self.target:
            self.flush()
        return True

    def text(self, text: str) -> bool:
        for m in WORD.finditer(text):
            word = m.group()
            if self.length and self.length + len(word.rstrip()) > self.target:
                self.flush()  # the word starts the next piece
            while len(word) > self.target:  # longer than a whole piece: cut it anyway
                cut = self.target
                if not self._word(word[:cut]):
                    return False
                word = word[cut:]
            if not self._word(word):
                return False
        return True

    def _word(self, word: str) -> bool:
        room = self.limit - self.result.length
        if len(word) > room:
            word = word[:room]
            self.result.cut = True
        self.parts.append(escape(word))
        self.plain.append(word)
        self.length += len(word)
        self.result.length += len(word)
        if self.result.cut:
            return False
        first = not self.result.pieces
        if (self.length >= self.target
                or (SENTENCE_END.search(word) and (first or self.length >= 40))
                or (CLAUSE_END.search(word) and self.length >= self.target // 2)):
            self.flush()
        return True

    def walk(self, el: Element) -> bool:
        if el.text and not self.text(el.text):
            return False
        for child in el:
            tag = child.tag if isinstance(child.tag, str) else ""
            if tag in ATOMIC:
                text = "".join(child.itertext())
                markup = _serialize(child, tail=False)
                if not self.unit(markup, text):
                    return False
            elif tag == "break":
                self.parts.append(_serialize(child, tail=False))
            else:
                start = _open_tag(child)
                self.parts.append(start)
                self.open.append((start, tag))
                ok = self.walk(child)
                self.open.pop()
                self.parts.append(f"</{tag}>")
                if tag in ("p", "s") and self.length:
                    self.plain.append(" ")
                    self.flush()
                if not ok:
                    return False
            if child.tail and not self.text(child.tail):
                return False
        return True


def _open_tag(el: Element) -> str:
    attrs = "".join(f" {'xml:lang' if k == XML_LANG else k}={quoteattr(v)}" for k, v in el.attrib.items())
    return f"<{el.tag}{attrs}>"


def _serialize(el: Element, tail: bool) -> str:
    if el.tag == "break":
        return _open_tag(el)[:-1] + "/>"
    inner = escape(el.text or "") + "".join(_serialize(c, True) for c in el)
    return _open_tag(el) + inner + f"</{el.tag}>" + (escape(el.tail or "") if tail else "")


def segments(text: str, limit: int) -> Pieces:
    """Cut TEXT (plain, or the SSML from_element made) into pieces of SSML, at most LIMIT characters of text."""
    root = None
    if text.startswith("<speak>"):
        try:
            root = SafeET.fromstring(text, forbid_dtd=True)
        except (ParseError, ValueError):
            root = None
        if root is not None and _depth(root) > MAX_DEPTH + 2:
            root = None  # not what from_element makes: speak it as text
    if root is None:
        root = Element("speak")
        root.text = text
    cutter = _Cutter(limit)
    cutter.walk(root)
    cutter.flush()
    cutter.result.plain = " ".join("".join(cutter.plain).split())
    return cutter.result


def _depth(root: Element) -> int:
    deepest, stack = 0, [(root, 1)]
    while stack:
        el, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in el)
    return deepest
