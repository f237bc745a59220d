"""Twilio's geographic parameters for a phone number, from the phonenumbers library.

Twilio sends ``FromCountry``, ``FromState``, ``FromCity``, ``FromZip`` (and
the same for ``To``), empty where it does not know them. The country is the
number's ISO region; the place comes from libphonenumber's geocoder (for
North American numbers "City, ST", split into city and state, the city in
capitals as Twilio sends it). libphonenumber holds no postal codes, so the
zip is always empty.

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

import phonenumbers
from phonenumbers import geocoder

NANP = 1


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
    where = geocoder.description_for_number(parsed, "en") if phonenumbers.is_valid_number(parsed) else ""
    if parsed.country_code == NANP:
        city, _, state = where.rpartition(", ")
        if len(state) != 2:  # a whole state or province ("California"), not "City, ST"
            return country, "", ""
        return country, state, city.upper()
    if where == geocoder.country_name_for_number(parsed, "en"):
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
