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

from bench.dtmf_corpus import Case, key_train
from drivers.constants import DTMF_KEYS
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
        audio = key_train(DTMF_KEYS, on_ms=on, off_ms=max(on, 60), low_dbm0=low, twist_db=twist, seed=i)
        cases.append(Case(f"{on} ms, {low:+d} dBm0, twist {twist:+d} dB", to_int16(audio), DTMF_KEYS, "nominal"))
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


def codec_table(peers: dict, voices: int | None, clean_talkoff: dict[str, int]) -> dict[str, dict[str, tuple]]:
    """Print the table; return {codec: {peer: (found, extra, talk-off)}}."""
    from bench.dtmf_corpus import talkoff_stream

    cases = nominal_cases()
    total = sum(len(c.expect) for c in cases)
    codecs = ["none", *CODECS]
    found = {c: dict.fromkeys(peers, 0) for c in codecs}
    extra = {c: dict.fromkeys(peers, 0) for c in codecs}
    talkoff = {c: dict.fromkeys(peers, 0) for c in codecs}
    talkoff["none"] = dict(clean_talkoff)
    for codec in codecs:
        for case in coded(cases, "clean" if codec == "none" else codec):
            for name, detect in peers.items():
                f, x = score(detect(case.audio), case.expect)
                found[codec][name] += f
                extra[codec][name] += x
    minutes = 0.0
    for batch, _ in batches(talkoff_stream(voices)):
        minutes += len(batch.audio) / 8000 / 60
        for codec in CODECS:
            audio = code(batch.audio, codec)
            for name, detect in peers.items():
                talkoff[codec][name] += len(detect(audio))
    names = list(peers)
    print(
        f"\nDTMF through codecs (sox's, encoded and decoded): {len(cases)} nominal cases, {total} digits "
        f"(tones {'/'.join(map(str, ON_MS))} ms, {min(LEVELS_DBM0)} to {max(LEVELS_DBM0)} dBm0, "
        f"twist {min(TWISTS_DB):+d} to {max(TWISTS_DB):+d} dB); talk-off on {minutes:.0f} min of speech"
    )
    width = 12 * len(names)
    print(f"{'codec':10} {'digits found':{width}} {'extra digits':{width}} {'talk-off digits':{width}}")
    print(f"{'':10} " + " ".join("".join(f"{n[:11]:>12}" for n in names) for _ in range(3)))
    for codec in codecs:
        cells = [found[codec], extra[codec], talkoff[codec]]
        print(f"{codec:10} " + " ".join("".join(f"{cell[n]:>12}" for n in names) for cell in cells))
    return {c: {n: (found[c][n], extra[c][n], talkoff[c][n]) for n in names} for c in codecs}


__all__ = ["CODECS", "batches", "codec_table", "coded", "nominal_cases", "score"]
