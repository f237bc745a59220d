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

Importing phonenumbers, and finding a North American number's region among
its 25, costs 20 ms here (a tenth of ``ivrbox simulate``'s start-up) and
more on a Pi. Callers and the box's own number recur, so each number's
answer is kept (``seen-VERSION-FORMAT.sqlite`` beside it, at most
``SEEN_MOST`` numbers, thrown away if damaged), and a number seen before
needs no phonenumbers at all. An answer is kept only when every lookup
behind it worked.

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

import contextlib
import functools
import importlib.util
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

NANP = 1
SEEN_FORMAT = 1    # bump when _work_out answers differently: answers kept before are then not used
SEEN_MOST = 10_000
SEEN_LONGEST = 32  # a caller ID longer than any dialled number is not worth keeping


@functools.cache
def phonenumbers_version() -> str:
    """The installed phonenumbers' version, from its metadata's directory name
    (importing it to ask costs more than the lookup it would spare).

    >>> import phonenumbers
    >>> phonenumbers_version() == phonenumbers.__version__
    True
    """
    site = Path(importlib.util.find_spec("phonenumbers").origin).parents[1]
    found = [re.match(r"phonenumbers-([^-]+?)(?:\.dist-info|\.egg-info|-py)", info.name)
             for info in site.glob("phonenumbers-*-info")]
    found = [f[1] for f in found if f]
    if len(found) == 1:
        return found[0]
    import phonenumbers  # none, or a stale one beside the real one

    return phonenumbers.__version__


def geodata_path() -> Path:
    cache = os.environ.get("CACHE_DIRECTORY") or Path.home() / ".cache" / "ivrbox"
    return Path(cache) / f"geo-{phonenumbers_version()}.sqlite"


def seen_path() -> Path:
    return geodata_path().with_name(f"seen-{phonenumbers_version()}-{SEEN_FORMAT}.sqlite")


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


def _lookup(sql: str, args: tuple) -> str | None:
    """The first column of the first row ("" if none); None if the table could not be read."""
    db = _db() if geodata_path().exists() else None
    if db is None:
        return None
    try:
        row = db.execute(sql, args).fetchone()
    except sqlite3.Error:
        return None
    return row[0] if row else ""


@functools.lru_cache(maxsize=1)
def _seen() -> sqlite3.Connection | None:
    try:
        db = sqlite3.connect(seen_path(), check_same_thread=False, timeout=0.05, isolation_level=None)
        db.execute("PRAGMA synchronous=OFF")  # a lost or damaged file is only worked out again
        db.execute("CREATE TABLE IF NOT EXISTS seen (number TEXT, home TEXT, country TEXT, state TEXT, "
                   "city TEXT, PRIMARY KEY (number, home)) WITHOUT ROWID")
        return db
    except sqlite3.Error as e:
        _damaged(e)
        return None


def _damaged(e: sqlite3.Error) -> None:
    if type(e) is sqlite3.DatabaseError:  # malformed, not busy or read-only: start it again
        _seen.cache_clear()
        with contextlib.suppress(OSError):
            seen_path().unlink()


def _memo(sql: str, args: tuple) -> tuple | None:
    """Run SQL on the kept answers: its first row, or None (none, no file, or it failed)."""
    db = _seen() if geodata_path().exists() else None
    try:
        return db.execute(sql, args).fetchone() if db else None
    except sqlite3.Error as e:  # busy, read-only, full or damaged: not kept this time
        _damaged(e)
        return None


@functools.lru_cache(maxsize=256)
def _place(number: str, home: str) -> tuple[str, str, str]:
    """(country, state, city) of a number, empty where unknown."""
    row = _memo("SELECT country, state, city FROM seen WHERE number = ? AND home = ?", (number, home))
    if row:
        return row
    place, complete = _work_out(number, home)
    if complete and len(number) <= SEEN_LONGEST:
        _memo("INSERT OR REPLACE INTO seen SELECT ?, ?, ?, ?, ? WHERE (SELECT count(*) FROM seen) < ?",
              (number, home, *place, SEEN_MOST))
    return place


def _work_out(number: str, home: str) -> tuple[tuple[str, str, str], bool]:
    """(country, state, city), and whether every table it needed could be read."""
    import phonenumbers

    try:
        parsed = phonenumbers.parse(number, home or None)
    except phonenumbers.NumberParseException:
        return ("", "", ""), True
    country = (phonenumbers.region_code_for_number(parsed)  # an unassigned number: its country code's main region
               or phonenumbers.region_code_for_country_code(parsed.country_code))
    if country in ("", "ZZ", "001"):
        return ("", "", ""), True
    where = ""
    if phonenumbers.is_valid_number(parsed):
        digits = f"{parsed.country_code}{phonenumbers.national_significant_number(parsed)}"
        prefixes = tuple(digits[:n] for n in range(len(digits), 0, -1))
        where = _lookup(f"SELECT name FROM place WHERE prefix IN ({','.join('?' * len(prefixes))}) "
                        "ORDER BY length(prefix) DESC LIMIT 1", prefixes)
        if where is None:
            return (country, "", ""), False
    if parsed.country_code == NANP:
        city, _, state = where.rpartition(", ")
        if len(state) != 2:  # a whole state or province ("California"), not "City, ST"
            return (country, "", ""), True
        return (country, state, city.upper()), True
    whole = _lookup("SELECT name FROM country WHERE region = ?", (country,))
    if where == whole:
        where = ""
    return (country, "", where), whole is not None


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
