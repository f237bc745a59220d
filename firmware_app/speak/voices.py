"""Twilio's <Say> voices and languages, mapped to espeak-ng voices.

    >>> espeak_voice("woman", "en-GB", {"en-gb", "en-us"})
    ('en-gb+f3', None)
    >>> espeak_voice("man", "es-MX", {"es", "es-419"})
    ('es-419', None)
    >>> espeak_voice("man", "xx-YY", {"en-us"})
    ('en-us', "no espeak-ng voice for language 'xx-YY'; speaking en-us")
"""

from __future__ import annotations

import functools
import subprocess

# Twilio tags whose espeak-ng voice is not the tag itself or its first part.
ALIASES = {
    "es-mx": "es-419", "es-us": "es-419", "es-ar": "es-419", "es-co": "es-419", "es-cl": "es-419",
    "fr-ca": "fr-fr", "fr-fr": "fr-fr", "en-au": "en-gb", "en-in": "en-gb", "en-ie": "en-gb",
    "en-nz": "en-gb", "en-za": "en-gb", "en-ca": "en-us", "zh-cn": "cmn", "zh-tw": "cmn",
    "cmn-hans-cn": "cmn", "cmn-hant-tw": "cmn", "cmn-cn": "cmn", "zh-hk": "yue", "yue-hant-hk": "yue",
    "nb-no": "nb", "no-no": "nb", "he-il": "he", "iw-il": "he",
}

# Twilio's female voices (the basic ones and common Amazon Polly and Google names).
FEMALE = {
    "woman", "alice", "joanna", "salli", "kimberly", "kendra", "ivy", "ruth", "amy", "emma", "nicole",
    "olivia", "aria", "ayanda", "raveena", "aditi", "celine", "lea", "chantal", "gabrielle", "vicki",
    "marlene", "conchita", "lucia", "penelope", "lupe", "mia", "carla", "bianca", "camila", "vitoria",
    "ines", "mizuki", "seoyeon", "zhiyu", "tatyana", "astrid", "liv", "naja", "lotte", "ewa", "maja",
    "carmen", "filiz", "hannah", "karl", "dora",
}


@functools.cache
def installed_voices() -> frozenset[str]:
    try:
        out = subprocess.run(["espeak-ng", "--voices"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return frozenset()
    return frozenset(line.split()[1].lower() for line in out.splitlines()[1:] if len(line.split()) > 1)


def espeak_voice(voice: str, language: str, available: frozenset[str] | set[str] | None = None) -> tuple[str, str | None]:
    """Return (espeak voice, warning or None)."""
    available = installed_voices() if available is None else available
    tag = language.lower()
    name = None
    for candidate in (ALIASES.get(tag), tag, tag.split("-")[0]):
        if candidate and candidate in available:
            name = candidate
            break
    warning = None
    if name is None:
        name = "en-us"
        warning = f"no espeak-ng voice for language {language!r}; speaking en-us"
    short = voice.split(".")[-1].split("-")[-1].lower()
    if short in FEMALE:
        name += "+f3"
    return name, warning
