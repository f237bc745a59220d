"""The pure parts of the voice-modem protocol (ITU V.253 "AT+V"), no I/O.

A voice modem in its data state sends audio in one of its ``+VSM`` codecs,
with ``<DLE>`` (0x10) introducing codes: ``<DLE><DLE>`` is a 0x10 audio byte,
``<DLE>5`` a DTMF digit it heard, ``<DLE>l`` loop current dropped, and
``<DLE><ETX>`` the end of the stream. The same shielding applies towards the
modem. ``DleParser`` keeps its state between reads, since a read can end
between a ``<DLE>`` and its code.

    >>> from drivers.modem_protocol import DleParser, shield
    >>> shield(b"a\\x10b")
    b'a\\x10\\x10b'
    >>> p = DleParser()
    >>> p.feed(b"ab\\x10")
    (b'ab', [], None)
    >>> p.feed(b"\\x10c\\x105")
    (b'\\x10c', [('dtmf', '5')], None)
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from .constants import DTMF_KEYS, RATE

DLE = 0x10
ETX = 0x03
SUB = 0x1A

HANGUP_CODES = {
    "l": "loop current dropped",
    "b": "busy tone",
    "s": "silence",
    "q": "quiet",
    "d": "dial tone",
}
# Some modems close the voice stream with a result code instead of <DLE><ETX>.
# Six specific bytes are vanishingly unlikely in 8-bit audio (silence is 0x80
# or 0xFF), so the text is a safe end marker.
END_RESULTS = (b"\r\nOK\r\n", b"\r\nNO CARRIER\r\n")


def shield(data: bytes) -> bytes:
    """Double every 0x10 so the modem takes it as audio, not a command."""
    return data.replace(b"\x10", b"\x10\x10")


class DleParser:
    """Split the modem's voice stream into audio and events.

    ``feed(chunk)`` returns ``(audio, events, rest)``. Events are tuples:
    ``('dtmf', digit)``, ``('hangup', reason)``, ``('end', how)`` and
    ``('code', char)`` for codes with no meaning here. Once the stream ends,
    ``rest`` holds the bytes after the end marker (command-mode text) and the
    parser is spent; until then ``rest`` is None.

    Between ``<DLE>/`` and ``<DLE>~`` some modems repeat the digit for as long
    as the tone lasts; a digit counts once per such bracket.
    """

    def __init__(self) -> None:
        self._dle = False
        self._held = b""
        self._bracket = False
        self._bracket_digits = ""
        self.ended = False

    def feed(self, data: bytes) -> tuple[bytes, list[tuple[str, str]], bytes | None]:
        if self.ended:
            raise ValueError("the voice stream already ended")
        data = self._held + data
        self._held = b""
        audio = bytearray()
        events: list[tuple[str, str]] = []
        i, n = 0, len(data)
        while i < n:
            if self._dle:
                self._dle = False
                code = data[i]
                i += 1
                if code == DLE:
                    audio.append(DLE)
                elif code == SUB:
                    audio += b"\x10\x10"
                elif code == ETX:
                    self.ended = True
                    events.append(("end", "<DLE><ETX>"))
                    return bytes(audio), events, data[i:]
                else:
                    self._code(chr(code), events)
                continue
            j = data.find(DLE, i)
            run = data[i : n if j < 0 else j]
            for marker in END_RESULTS:
                k = run.find(marker)
                if k >= 0:
                    audio += run[:k]
                    self.ended = True
                    events.append(("end", marker.strip().decode()))
                    return bytes(audio), events, data[i + k + len(marker) :]
            if j < 0:
                keep = _partial_marker(run)
                audio += run[: len(run) - keep]
                self._held = run[len(run) - keep :]
                break
            audio += run
            self._dle = True
            i = j + 1
        return bytes(audio), events, None

    def _code(self, char: str, events: list) -> None:
        if char == "/":
            self._bracket, self._bracket_digits = True, ""
        elif char == "~":
            self._bracket = False
        elif char in DTMF_KEYS:
            if not self._bracket:
                events.append(("dtmf", char))
            elif char not in self._bracket_digits:
                self._bracket_digits += char
                events.append(("dtmf", char))
        elif char in HANGUP_CODES:
            events.append(("hangup", HANGUP_CODES[char]))
        else:
            events.append(("code", char))


def _partial_marker(run: bytes) -> int:
    """How many bytes at the end of ``run`` could begin an end marker."""
    for size in range(min(len(run), max(map(len, END_RESULTS)) - 1), 0, -1):
        tail = run[-size:]
        if any(m.startswith(tail) for m in END_RESULTS):
            return size
    return 0


# --- codecs: the modem's 8-bit samples <-> 16-bit little-endian PCM ---------


@functools.cache
def _ulaw_tables():
    """G.711 µ-law decode and encode tables, the same arithmetic as Sun's g711.c (and audioop)."""
    import numpy as np

    u = ~np.arange(256, dtype=np.int32) & 0xFF
    t = (((u & 0x0F) << 3) + 0x84) << ((u & 0x70) >> 4)
    decode = np.where(u & 0x80, 0x84 - t, t - 0x84).astype("<i2")

    pcm = np.arange(-32768, 32768, dtype=np.int32) >> 2
    mask = np.where(pcm < 0, 0x7F, 0xFF)
    pcm = np.minimum(np.abs(pcm), 8159) + 0x21
    seg = np.searchsorted(np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF]), pcm)
    uval = np.where(seg >= 8, 0x7F, (seg << 4) | ((pcm >> (np.minimum(seg, 7) + 1)) & 0x0F))
    encode = (uval ^ mask).astype(np.uint8)
    # encode is indexed by the sample's bit pattern read as unsigned.
    encode = np.roll(encode, -32768)
    return decode, encode


@dataclass(frozen=True)
class Codec:
    """One of the 8-bit sample formats a voice modem offers."""

    name: str
    silence: int

    def decode(self, data: bytes) -> bytes:
        """Modem bytes to 16-bit little-endian PCM (two bytes per byte in)."""
        import numpy as np  # numpy: a line waiting for rings goes without

        b = np.frombuffer(data, dtype=np.uint8)
        if self.name == "ulaw":
            return _ulaw_tables()[0][b].tobytes()
        if self.name == "linear":
            return ((b.astype("<i2") - 128) << 8).astype("<i2").tobytes()
        return (b.view(np.int8).astype("<i2") << 8).tobytes()

    def encode(self, pcm: bytes) -> bytes:
        """16-bit little-endian PCM to modem bytes (one byte per sample)."""
        if len(pcm) % 2:
            raise ValueError(f"16-bit PCM must have an even length, not {len(pcm)} bytes")
        import numpy as np

        s = np.frombuffer(pcm, dtype="<i2")
        if self.name == "ulaw":
            return _ulaw_tables()[1][s.view("<u2")].tobytes()
        if self.name == "linear":
            return ((s >> 8) + 128).astype(np.uint8).tobytes()
        return (s >> 8).astype(np.int8).tobytes()


CODECS = {
    "ulaw": Codec("ulaw", 0xFF),
    "linear": Codec("linear", 0x80),
    "slinear": Codec("slinear", 0x00),
}
PREFERENCE = ("ulaw", "linear", "slinear")


@dataclass(frozen=True)
class VsmOffer:
    """One line of the modem's ``AT+VSM=?`` answer; ``rates`` are (low, high) ranges."""

    cml: int
    label: str
    bits: int
    rates: tuple[tuple[int, int], ...]

    @property
    def codec(self) -> str | None:
        """The CODECS key this offer carries, or None if it is not one of ours."""
        label = self.label.upper().replace(" ", "").replace("-", "").replace(".", "")
        if self.bits != 8:
            return None
        if any(k in label for k in ("ULAW", "MULAW", "G711U")):
            return "ulaw"
        if "UNSIGNED" in label or label == "8BITLINEAR":
            return "linear"
        if "SIGNEDPCM" in label:
            return "slinear"
        return None

    def offers_rate(self, rate: int) -> bool:
        return any(lo <= rate <= hi for lo, hi in self.rates)

    def __str__(self) -> str:
        rates = ",".join(f"{lo}" if lo == hi else f"{lo}-{hi}" for lo, hi in self.rates)
        return f'{self.cml} "{self.label}" {self.bits}-bit at {rates} Hz'


_FIELD = re.compile(r'"[^"]*"|\([^)]*\)|[^,]+')


def _ranges(field: str) -> tuple[tuple[int, int], ...]:
    out = []
    for part in field.strip("() ").split(","):
        lo, _, hi = (x.strip() for x in part.partition("-"))
        if lo.isdigit():
            out.append((int(lo), int(hi) if hi.isdigit() else int(lo)))
    return tuple(out)


def parse_vsm(lines: list[str]) -> list[VsmOffer]:
    """Parse an ``AT+VSM=?`` answer; lines that are not offers are skipped.

    >>> [str(o) for o in parse_vsm(['131,"ULAW",8,0,(7200,8000),(0),(0)'])]
    ['131 "ULAW" 8-bit at 7200,8000 Hz']
    """
    offers = []
    for line in lines:
        line = re.sub(r"^\+VSM:\s*", "", line.strip())
        fields = [f.strip() for f in _FIELD.findall(line)]
        if len(fields) < 5 or not fields[0].isdigit() or not fields[2].isdigit():
            continue
        offers.append(VsmOffer(int(fields[0]), fields[1].strip('"'), int(fields[2]), _ranges(fields[4])))
    return offers


def choose_codec(offers: list[VsmOffer], want: str = "auto", rate: int = RATE) -> VsmOffer:
    """The offer to select with ``AT+VSM``: µ-law first, then 8-bit linear.

    Raises ValueError naming what the modem offered when nothing fits.
    """
    if want != "auto" and want not in CODECS:
        raise ValueError(f"unknown codec {want!r}: use auto, {', '.join(CODECS)}")
    order = PREFERENCE if want == "auto" else (want,)
    for name in order:
        for offer in offers:
            if offer.codec == name and offer.offers_rate(rate):
                return offer
    said = "; ".join(map(str, offers)) or "nothing"
    raise ValueError(f"the modem offers no {' or '.join(order)} codec at {rate} Hz (+VSM=? said: {said})")


# --- caller ID ----------------------------------------------------------------

_CID = re.compile(r"^\s*(DATE|TIME|NMBR|NAME|MESG|DDN_NMBR|DDN)\s*[=:]\s*(.*?)\s*$", re.I)
_WITHHELD = {"P": "withheld", "O": "unavailable"}


def parse_cid_line(line: str) -> tuple[str, str] | None:
    """``'NMBR = 5551234'`` -> ``('NMBR', '5551234')``; None for other lines."""
    m = _CID.match(line)
    if not m:
        return None
    key = m.group(1).upper()
    return ("DDN_NMBR" if key == "DDN" else key), m.group(2)


def caller_fields(fields: dict[str, str]) -> dict[str, str]:
    """Caller ID fields as CallInfo's caller, name and called.

    ``P`` (private) and ``O`` (out of area) become an empty number and a
    name that says why.
    """
    number = fields.get("NMBR", "")
    name = fields.get("NAME", "")
    if number.upper() in _WITHHELD:
        name = name if name and name.upper() not in _WITHHELD else _WITHHELD[number.upper()]
        number = ""
    elif name.upper() in _WITHHELD:
        name = _WITHHELD[name.upper()]
    return {"caller": number, "name": name, "called": fields.get("DDN_NMBR", "")}
