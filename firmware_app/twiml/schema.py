"""Attribute schemas: what a verb's attributes may hold, and Twilio's defaults.

Each attribute type reads the raw XML string into a value or raises
``BadValue`` with the reason; the parser then warns, naming the verb, the
attribute and the value, and uses Twilio's default, as Twilio's schema
validation (12200) does. Numbers must be finite.

    >>> Number("length", default=1.0, minimum=0).read("2.5")
    2.5
    >>> Number("length", default=1.0, minimum=0).read("NaN")
    Traceback (most recent call last):
    ...
    firmware_app.twiml.schema.BadValue: is not a finite number
    >>> Choice("method", default="POST", choices=("GET", "POST")).read("PUT")
    Traceback (most recent call last):
    ...
    firmware_app.twiml.schema.BadValue: must be one of GET, POST
    >>> check_url("http://[::1/x")
    Traceback (most recent call last):
    ...
    firmware_app.twiml.schema.BadValue: is not a valid URL: Invalid IPv6 URL
    >>> check_url("http://example.com/café")
    'http://example.com/caf%C3%A9'
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urljoin, urlsplit, urlunsplit, uses_relative

# urljoin resolves relative URLs only for schemes it knows; the bundled
# flows' flows:/ URLs must resolve like http ones.
if "flows" not in uses_relative:
    uses_relative.append("flows")

MAX_URL = 4096
MAX_LABEL = 63
MAX_HOST = 253
SAFE = "/?:@!$&'()*+,;=%~"


class BadValue(ValueError):
    """An attribute value the schema refuses; the message says why."""


@dataclass(frozen=True)
class Problem:
    """A warning about a document, with the line it is on (0: unknown)."""

    message: str
    line: int = 0

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class Attr:
    """A string attribute. ``name`` is the XML name; ``field`` the verb's field (default: name)."""

    name: str
    default: Any = ""
    field: str = ""

    @property
    def key(self) -> str:
        return self.field or self.name

    def read(self, raw: str) -> Any:
        return raw

    def resolve(self, value: Any, base: str) -> Any:
        """Make the value absolute against the document's URL (only URLs do anything)."""
        return value


@dataclass(frozen=True)
class Number(Attr):
    minimum: float = 0
    maximum: float = math.inf
    integer: bool = False

    def read(self, raw: str) -> Any:
        try:
            value = int(raw.strip()) if self.integer else float(raw)
        except ValueError:
            raise BadValue("is not an integer" if self.integer else "is not a finite number") from None
        if not math.isfinite(value):
            raise BadValue("is not a finite number")
        if value < self.minimum:
            raise BadValue(f"must be at least {self.minimum:g}")
        if value > self.maximum:
            raise BadValue(f"must be at most {self.maximum:g}")
        return value


def Integer(name: str, default: Any = 0, field: str = "", **kw) -> Number:
    return Number(name, default, field, integer=True, **kw)


@dataclass(frozen=True)
class Choice(Attr):
    choices: tuple = ()

    def read(self, raw: str) -> Any:
        if raw not in self.choices:
            raise BadValue("must be one of " + ", ".join(repr(c) if c == "" else c for c in self.choices))
        return raw


@dataclass(frozen=True)
class Boolean(Attr):
    def read(self, raw: str) -> Any:
        if raw.lower() not in ("true", "false"):
            raise BadValue("must be true or false")
        return raw.lower() == "true"


@dataclass(frozen=True)
class Url(Attr):
    """A URL, relative to the document. ``follow`` says what the cache crawl and
    lint fetch there: "twiml" (with the verb's ``method`` field), "audio", or
    "" (a callback, not followed)."""

    follow: str = ""
    method: str = ""
    empty_is_document: bool = False  # missing or empty means the document's own URL

    def read(self, raw: str) -> Any:
        return raw.strip()

    def resolve(self, value: Any, base: str) -> Any:
        if not value and not self.empty_is_document:
            return ""
        try:
            return check_url(urljoin(base, value))
        except BadValue:
            raise
        except ValueError as e:
            raise BadValue(f"is not a valid URL: {e}") from None


def check_url(url: str) -> str:
    """Refuse what no fetch could use; percent-encode what is only unusual (non-ASCII)."""
    if len(url) > MAX_URL:
        raise BadValue(f"is over {MAX_URL} characters")
    try:
        parts = urlsplit(url)
        parts.port
    except ValueError as e:
        raise BadValue(f"is not a valid URL: {e}") from None
    host = parts.hostname or ""
    if parts.scheme in ("http", "https"):
        if not host:
            raise BadValue("is not a valid URL: no host")
        labels = host.split(".")
        if len(host) > MAX_HOST or any(len(label) > MAX_LABEL for label in labels):
            raise BadValue(f"is not a valid URL: host name part over {MAX_LABEL} characters")
        if not host.isascii() or any(c.isspace() for c in parts.netloc):
            raise BadValue("is not a valid URL: the host must be ASCII (IDNA) without spaces")
    if not url.isascii() or " " in url:
        url = urlunsplit(parts._replace(path=quote(parts.path, safe=SAFE), query=quote(parts.query, safe=SAFE),
                                        fragment=quote(parts.fragment, safe=SAFE)))
    return url
