"""<Say>: speak text (espeak-ng). ``loop="0"`` repeats it (up to 1000 times; see ``repeat``).

Its child tags are SSML: the verb keeps them as markup for the speaker to render.

    >>> from firmware_app.twiml.parse import parse
    >>> say = parse("<Response><Say>Press <emphasis>one</emphasis> &amp; wait</Say></Response>", "http://h/").verbs[0]
    >>> say.text, say.ssml
    ('Press one & wait', 'Press <emphasis>one</emphasis> &amp; wait')
"""

from __future__ import annotations

from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

from ..schema import Attr, Integer
from .registry import register
from .base import CONTINUE, Verb, repeat

MAX_TEXT = 4096
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
MAX_DEPTH = 24  # SSML nesting kept as markup; deeper tags keep only their text


@register
@dataclass
class Say(Verb):
    tag = "Say"
    attributes = (Attr("voice", "man"), Attr("language", "en-US"), Integer("loop", 1, minimum=0))
    body = Attr("text")
    markup = True

    text: str = ""
    voice: str = "man"
    language: str = "en-US"
    loop: int = 1
    ssml: str = ""  # the element's content as markup, when it has SSML tags

    @classmethod
    def read_markup(cls, el):
        text = " ".join("".join(el.itertext()).split())
        if not len(el):
            return {"text": text}
        return {"text": text, "ssml": _inner(el, 0).strip()}

    @classmethod
    def build(cls, values, children, warn):
        if not values["text"] and "<break" not in values.get("ssml", ""):
            warn("<Say> has no text")
        return cls(**values)

    async def run(self, ch):
        await repeat(ch, self.loop, lambda: ch.say(self.text, self.voice, self.language, ssml=self.ssml))
        return CONTINUE

    def lint(self, context):
        if len(self.text) > MAX_TEXT:
            yield "error", f"<Say> text is {len(self.text)} characters, over Twilio's {MAX_TEXT}"


def _inner(el, depth: int) -> str:
    """EL's content as markup; past MAX_DEPTH only the text (a 64 KB document can nest thousands deep)."""
    parts = [escape(el.text or "")]
    for child in el:
        if depth >= MAX_DEPTH:
            parts.append(escape("".join(child.itertext())))
        else:
            tag = _name(child.tag)
            attrs = "".join(f" {_name(name)}={quoteattr(value)}" for name, value in child.attrib.items())
            parts.append(f"<{tag}{attrs}>{_inner(child, depth + 1)}</{tag}>")
        parts.append(escape(child.tail or ""))
    return "".join(parts)


def _name(name) -> str:
    """A tag or attribute name as written: ElementTree spells xml:lang by its namespace."""
    if not isinstance(name, str):
        return ""
    return "xml:lang" if name == XML_LANG else name.rpartition("}")[2]
