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
    >>> geography("From", "anonymous")
    {'FromCountry': '', 'FromState': '', 'FromCity': '', 'FromZip': ''}
"""

from __future__ import annotations

import functools

import phonenumbers
from phonenumbers import geocoder

NANP = 1


@functools.lru_cache(maxsize=256)
def _place(number: str) -> tuple[str, str, str]:
    """(country, state, city) of an E.164 number, empty where unknown."""
    try:
        parsed = phonenumbers.parse(number if number.startswith("+") else "+" + number)
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


def geography(prefix: str, number: str) -> dict[str, str]:
    """``{prefix}Country``, ``State``, ``City`` and ``Zip`` for a number."""
    country, state, city = _place(number.strip()) if number else ("", "", "")
    return {f"{prefix}Country": country, f"{prefix}State": state, f"{prefix}City": city, f"{prefix}Zip": ""}
