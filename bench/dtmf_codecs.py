"""DTMF through phone codecs: nominal digits and talk-off speech, side by side.

Callers reach an analog line through mobile and VoIP networks; in-band DTMF
crosses G.711 µ-law, GSM 06.10 or AMR-NB on the way. Each case here is
passed through a real codec (sox's, as drivers.impair does for the
simulator) and back, then given to every detector.

The nominal digits are every key at every combination of tone length
(40-100 ms, pauses as long), level (-25 to 0 dBm0 per low tone) and twist
within Q.24 (high tone 8 dB below to 4 dB above the low tone).

    >>> from bench.dtmf_codecs import nominal_cases
    >>> cases = nominal_cases()          # doctest: +SKIP
"""

from __future__ import annotations

import difflib
import itertools

import numpy as np

from bench.dtmf_corpus import ALL_KEYS, Case, key_train
from drivers.impair import CODECS, code
from firmware_app.listen.tones import to_int16

ON_MS = (40, 60, 100)
LEVELS_DBM0 = (-25, -20, -15, -10, -5, 0)
TWISTS_DB = (-8, -4, 0, 4)
VOICE_BATCH = 20  # talk-off voices coded and scored together


def nominal_cases() -> list[Case]:
    """Every key at each tone length, level and twist: one case per combination."""
    cases = []
    for i, (on, level, twist) in enumerate(itertools.product(ON_MS, LEVELS_DBM0, TWISTS_DB)):
        # the louder tone at most 0 dBm0
        low = min(level, -twist) if twist > 0 else level
        audio = key_train(ALL_KEYS, on_ms=on, off_ms=max(on, 60), low_dbm0=low, twist_db=twist, seed=i)
        cases.append(Case(f"{on} ms, {low:+d} dBm0, twist {twist:+d} dB", to_int16(audio), ALL_KEYS, "nominal"))
    return cases


def score(got: str, expect: str) -> tuple[int, int]:
    """(digits of ``expect`` found in order, digits reported beyond them)."""
    found = sum(block.size for block in difflib.SequenceMatcher(None, expect, got, autojunk=False).get_matching_blocks())
    return found, len(got) - found


def coded(cases, codec: str):
    for case in cases:
        yield Case(case.name, case.audio if codec == "clean" else code(case.audio, codec), case.expect, case.group)


def batches(stream, size: int = VOICE_BATCH):
    """Talk-off voices joined ``size`` at a time, so each batch costs one run of each codec and peer."""
    while True:
        part = list(itertools.islice(stream, size))
        if not part:
            return
        yield Case(f"{len(part)} voices", np.concatenate([c.audio for c in part]), "", "talk-off"), len(part)


__all__ = ["CODECS", "nominal_cases", "score", "coded", "batches"]
