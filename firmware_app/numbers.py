"""Twilio's geographic parameters for a phone number, from the phonenumbers library.

Twilio sends ``FromCountry``, ``FromState``, ``FromCity``, ``FromZip`` (and
the same for ``To``), empty where it does not know them. The country is the
number's ISO region (libphonenumber's metadata); the place comes from
libphonenumber's geocoder data (for North American numbers "City, ST", split
into city and state, the city in capitals as Twilio sends it).
libphonenumber holds no postal codes, so the zip is always empty.

The geocoder's Python tables take some 100 MB of memory once imported, too
much to keep in the box. Their English names are exported once, by a child
process, to a SQLite file (``geo-VERSION.sqlite`` in the user's cache
directory, a few MB); a lookup is one indexed query. ``ensure_geodata()``
builds it when missing (``make venv`` does it ahead of time).

    >>> ensure_geodata()
    >>> geography("From", "+12125551234")["FromCity"], geography("From", "+12125551234")["FromState"]
    ('NEW YORK', 'NY')
    >>> geography("To", "+4930123456")
    {'ToCountry': 'DE', 'ToState': '', 'ToCity': 'Berlin', 'ToZip': ''}
    >>> geography("From", "2125551234", home="US")["FromCity"]
    'NEW YORK'
    >>> geography("From", "anonymous")
    {'FromCountry': '', 'FromState': '', 'FromCity': '', 'FromZip': ''}
"""

from __future__ import annotations

import functools
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import phonenumbers

NANP = 1


def geodata_path() -> Path:
    cache = os.environ.get("CACHE_DIRECTORY") or Path.home() / ".cache" / "ivrbox"
    return Path(cache) / f"geo-{phonenumbers.__version__}.sqlite"


def ensure_geodata(timeout: float = 120.0) -> None:
    """Export the geocoder's English names to SQLite, in a child process, if not done yet (blocking)."""
    if not geodata_path().exists():
        subprocess.run([sys.executable, "-m", "firmware_app.numbers", str(geodata_path())], check=False,
                       timeout=timeout, capture_output=True)


def _export(path: Path) -> None:
    from phonenumbers.geodata import GEOCODE_DATA
    from phonenumbers.geodata.locale import LOCALE_DATA

    def english(names: dict) -> str:
        name = names.get("en", "")
        return names.get(name[1:], "") if name.startswith("*") else name

    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.part")
    db = sqlite3.connect(partial)
    db.execute("CREATE TABLE place (prefix TEXT PRIMARY KEY, name TEXT) WITHOUT ROWID")
    db.execute("CREATE TABLE country (region TEXT PRIMARY KEY, name TEXT) WITHOUT ROWID")
    db.executemany("INSERT INTO place VALUES (?, ?)", ((p, n["en"]) for p, n in GEOCODE_DATA.items() if n.get("en")))
    db.executemany("INSERT INTO country VALUES (?, ?)", ((r, english(n)) for r, n in LOCALE_DATA.items()))
    db.commit()
    db.close()
    partial.replace(path)  # atomic: a reader sees the whole table or none


@functools.lru_cache(maxsize=1)
def _db() -> sqlite3.Connection | None:
    try:
        return sqlite3.connect(f"file:{geodata_path()}?mode=ro", uri=True, check_same_thread=False)
    except sqlite3.Error:
        return None


def _lookup(sql: str, args: tuple) -> str:
    db = _db() if geodata_path().exists() else None
    if db is None:
        return ""
    try:
        row = db.execute(sql, args).fetchone()
    except sqlite3.Error:
        return ""
    return row[0] if row else ""


@functools.lru_cache(maxsize=256)
def _place(number: str, home: str) -> tuple[str, str, str]:
    """(country, state, city) of a number, empty where unknown."""
    try:
        parsed = phonenumbers.parse(number, home or None)
    except phonenumbers.NumberParseException:
        return "", "", ""
    country = (phonenumbers.region_code_for_number(parsed)  # an unassigned number: its country code's main region
               or phonenumbers.region_code_for_country_code(parsed.country_code))
    if country in ("", "ZZ", "001"):
        return "", "", ""
    where = ""
    if phonenumbers.is_valid_number(parsed):
        digits = f"{parsed.country_code}{phonenumbers.national_significant_number(parsed)}"
        prefixes = tuple(digits[:n] for n in range(len(digits), 0, -1))
        where = _lookup(f"SELECT name FROM place WHERE prefix IN ({','.join('?' * len(prefixes))}) "
                        "ORDER BY length(prefix) DESC LIMIT 1", prefixes)
    if parsed.country_code == NANP:
        city, _, state = where.rpartition(", ")
        if len(state) != 2:  # a whole state or province ("California"), not "City, ST"
            return country, "", ""
        return country, state, city.upper()
    if where == _lookup("SELECT name FROM country WHERE region = ?", (country,)):
        where = ""
    return country, "", where


def region(number: str) -> str:
    """The ISO region of an E.164 number ("" if none): a line's own number says
    where the national numbers its caller ID shows are.

    >>> region("+15550199"), region("+442079460000"), region("5551234")
    ('US', 'GB', '')
    """
    return _place(number.strip(), "")[0] if number.strip().startswith("+") else ""


def geography(prefix: str, number: str, home: str = "") -> dict[str, str]:
    """``{prefix}Country``, ``State``, ``City`` and ``Zip`` for a number; one
    without a + is national in region ``home`` (unknown without one)."""
    country, state, city = _place(number.strip(), home) if number.strip() else ("", "", "")
    return {f"{prefix}Country": country, f"{prefix}State": state, f"{prefix}City": city, f"{prefix}Zip": ""}


if __name__ == "__main__":
    _export(Path(sys.argv[1]))
