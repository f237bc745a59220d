"""One digit stream from in-band DTMF, the keypad and the modem."""

import pytest

from firmware_app.listen.digits import DigitStream


def keys(stream):
    return "".join(d.key for d in stream.digits)


def test_same_key_from_two_sources_at_once_counts_once():
    s = DigitStream(window=0.2)
    assert s.push("5", "modem", 1.00) is True
    assert s.push("5", "inband", 1.06) is False
    assert s.push("5", "keypad", 0.95) is False
    assert keys(s) == "5"
    assert s.digits[0].source == "modem" and s.digits[0].t == 1.00


def test_repeats_from_one_source_are_separate_presses():
    s = DigitStream(window=0.2)
    assert s.push("5", "inband", 1.0) and s.push("5", "inband", 1.08)
    # The modem heard both presses too: each absorbs one report.
    assert not s.push("5", "modem", 1.02) and not s.push("5", "modem", 1.10)
    assert keys(s) == "55"


def test_outside_the_window_or_another_key_is_a_new_digit():
    s = DigitStream(window=0.2)
    assert s.push("1", "modem", 1.0)
    assert s.push("1", "inband", 1.5)
    assert s.push("2", "inband", 1.51)
    assert keys(s) == "112"
    s.clear()
    assert s.digits == []


def test_bad_keys_and_sources_are_refused():
    s = DigitStream()
    with pytest.raises(ValueError, match="not a DTMF key"):
        s.push("x", "modem", 0.0)
    with pytest.raises(ValueError, match="unknown digit source"):
        s.push("1", "telepathy", 0.0)
    with pytest.raises(ValueError, match="window"):
        DigitStream(window=-1)
