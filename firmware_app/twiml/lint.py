"""Check one TwiML document before a caller meets it, from the verb registry.

Schema problems (unknown verbs and attributes, bad values) are errors;
verbs after one that ends the document, and each verb's own checks
(``Verb.lint``), are warnings.

    >>> for f in check('<Response><Hangup/>\\n<Say>bye</Say></Response>', "http://h/ivr", Context()):
    ...     print(f.line, f.level, f.message)
    2 warning <Say> can never run: it comes after <Hangup> on line 1
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .parse import Document, TwimlError, parse


@dataclass(frozen=True)
class Finding:
    line: int
    level: str  # error | warning
    message: str


@dataclass
class Context:
    """What the checks need to know about the box: the languages with a speech model."""

    speech_languages: set[str] = field(default_factory=set)

    def has_speech(self, language: str) -> bool:
        return language.casefold() in {lang.casefold() for lang in self.speech_languages}


def check(text: str | bytes, url: str, context: Context) -> list[Finding]:
    return check_document(text, url, context)[1]


def check_document(text: str | bytes, url: str, context: Context) -> tuple[Document | None, list[Finding]]:
    """The parsed document (None if it does not parse) and what is wrong with it."""
    try:
        doc = parse(text, url)
    except TwimlError as e:
        where = re.search(r"line (\d+)", e.message)
        return None, [Finding(int(where[1]) if where else 1, "error", f"{e.code}: {e.message}")]
    findings = [Finding(w.line, "error", w.message) for w in doc.warnings]
    ended_by = None
    for verb in doc.verbs:
        if ended_by is not None:
            findings.append(Finding(verb.line, "warning", f"<{verb.tag}> can never run: it comes after "
                                                          f"<{ended_by.tag}> on line {ended_by.line}"))
        elif verb.final:
            ended_by = verb
        for each in verb.walk():
            findings += [Finding(each.line, level, message) for level, message in each.lint(context)]
    return doc, findings
