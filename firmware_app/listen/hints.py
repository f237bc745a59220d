"""Speech hints and the profanity filter: Twilio's limits, and what a model can use.

    >>> mask_profanity("well shit")
    'well s***'
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

from .engine import Model

HERE = Path(__file__).parent
MAX_HINTS = 500
MAX_HINT_CHARS = 100


def prepare_hints(hints: list[str], model: Model, extra: list[str] = ()) -> tuple[list[str], list[str]]:
    """Grammar phrases from HINTS (Twilio's limits applied) plus EXTRA, and the warnings."""
    if not isinstance(hints, (list, tuple)) or not all(isinstance(h, str) for h in hints):
        raise TypeError(f"hints must be a list of strings (the parser splits the attribute), got {hints!r}")
    hints = list(hints)
    warnings = []
    if len(hints) > MAX_HINTS:
        warnings.append(f"{len(hints)} hints given; only the first {MAX_HINTS} are used")
        hints = hints[:MAX_HINTS]
    phrases = []
    for hint in hints:
        if len(hint) > MAX_HINT_CHARS:
            cut = hint[:MAX_HINT_CHARS]
            cut = cut.rsplit(" ", 1)[0] if hint[MAX_HINT_CHARS] != " " and " " in cut else cut
            warnings.append(f"hint {hint[:30]!r}... is {len(hint)} characters; "
                            f"cut to {len(cut)} (at most {MAX_HINT_CHARS})")
            hint = cut
        phrase = " ".join(re.sub(r"[^\w' ]+", " ", hint).lower().split())
        if phrase:
            phrases.append(phrase)
    if phrases and not model.grammars:
        warnings.append(f"the {model.language} model cannot use a grammar; hints only reach free-text recognition")
        return [], warnings
    grammar = []
    for phrase in phrases:
        unknown = model.unknown_words(phrase)
        if unknown:
            warnings.append(f"hint {phrase!r}: the {model.language} model does not know "
                            f"{', '.join(map(repr, unknown))}; only free text can match it")
        elif phrase not in grammar:
            grammar.append(phrase)
    if grammar:
        grammar += [w for w in extra if w not in grammar and not model.unknown_words(w)]
    return grammar, warnings


@functools.cache
def _profanity() -> frozenset[str]:
    lines = (HERE / "profanity.txt").read_text(encoding="utf-8").splitlines()
    return frozenset(w.strip().casefold() for w in lines if w.strip() and not w.startswith("#"))


def mask_profanity(text: str) -> str:
    """Replace all but the first letter of each profane word with '*' ('fuck' -> 'f***')."""
    words = _profanity()
    return re.sub(r"\w+(?:'\w+)?", lambda m: m[0][0] + "*" * (len(m[0]) - 1)
                  if m[0].casefold() in words else m[0], text)


