"""The voice-modem protocol without a port: DLE parsing, codecs, +VSM, caller ID."""

import numpy as np
import pytest

from drivers.modem_protocol import (
    CODECS,
    DleParser,
    caller_fields,
    choose_codec,
    parse_cid_line,
    parse_vsm,
    shield,
)
from fake_modem import MODELS
from modem_audio import ulaw_byte, ulaw_sample

ALL_SAMPLES = np.arange(-32768, 32768, dtype="<i2")


def feed_all(chunks):
    parser, audio, events = DleParser(), b"", []
    for i, chunk in enumerate(chunks):
        a, e, rest = parser.feed(chunk)
        audio += a
        events += e
        if rest is not None:
            return audio, events, rest + b"".join(chunks[i + 1 :])
    return audio, events, None


def vsm_lines(model):
    return [f"{k},{v[0]}" for k, v in MODELS[model]["vsm"].items()]


# --- DLE ------------------------------------------------------------------


def test_shield_doubles_every_dle_and_nothing_else():
    assert shield(b"\x10a\x10\x10b") == b"\x10\x10a\x10\x10\x10\x10b"
    assert shield(b"\x03\x11\x0f") == b"\x03\x11\x0f"


def test_plain_audio_passes_through():
    assert feed_all([bytes(range(16, 0, -1)).replace(b"\x10", b"")]) == (
        bytes(range(15, 0, -1)), [], None)


STREAM = (b"ab\x10\x10cd\x10/\x105\x105\x105\x10~ef\x10\x10\x10#gh\x10\x1aij\x10l"
          b"kl\x10\x03\r\nOK\r\n")
STREAM_AUDIO = b"ab\x10cdef\x10gh\x10\x10ijkl"
STREAM_EVENTS = [("dtmf", "5"), ("dtmf", "#"), ("hangup", "loop current dropped"), ("end", "<DLE><ETX>")]


def test_parser_result_does_not_depend_on_where_reads_split():
    whole = feed_all([STREAM])
    assert whole == (STREAM_AUDIO, STREAM_EVENTS, b"\r\nOK\r\n")
    for cut in range(1, len(STREAM)):
        assert feed_all([STREAM[:cut], STREAM[cut:]]) == whole, cut
    assert feed_all([bytes([b]) for b in STREAM]) == whole


def test_a_dle_at_the_end_of_a_read_waits_for_its_code():
    parser = DleParser()
    assert parser.feed(b"xy\x10") == (b"xy", [], None)
    assert parser.feed(b"7z") == (b"z", [("dtmf", "7")], None)
    assert parser.feed(b"\x10") == (b"", [], None)
    assert parser.feed(b"\x10") == (b"\x10", [], None)


def test_bracketed_repeats_count_once_but_separate_presses_count_twice():
    _, events, _ = feed_all([b"\x10/\x101\x101\x101\x10~\x10/\x101\x101\x10~\x10/\x102\x10~"])
    assert events == [("dtmf", "1"), ("dtmf", "1"), ("dtmf", "2")]


def test_unbracketed_digits_each_count():
    _, events, _ = feed_all([b"\x101\x101\x10*\x10D"])
    assert events == [("dtmf", "1"), ("dtmf", "1"), ("dtmf", "*"), ("dtmf", "D")]


@pytest.mark.parametrize("code, reason", [
    ("l", "loop current dropped"), ("b", "busy tone"), ("s", "silence"), ("q", "quiet"), ("d", "dial tone")])
def test_far_end_codes(code, reason):
    assert feed_all([b"\x80\x10" + code.encode()])[1] == [("hangup", reason)]


def test_unknown_codes_are_reported_as_codes():
    assert feed_all([b"\x10u\x10R"])[1] == [("code", "u"), ("code", "R")]


@pytest.mark.parametrize("marker", [b"\r\nOK\r\n", b"\r\nNO CARRIER\r\n"])
def test_a_result_code_ends_the_stream_even_split_across_reads(marker):
    stream = b"\x80\x81" + marker + b"\r\nRING\r\n"
    for cut in range(1, len(stream)):
        audio, events, rest = feed_all([stream[:cut], stream[cut:]])
        assert (audio, events, rest) == (b"\x80\x81", [("end", marker.strip().decode())], b"\r\nRING\r\n")


def test_a_held_back_partial_marker_is_released_as_audio():
    parser = DleParser()
    assert parser.feed(b"\x80\r\nO") == (b"\x80", [], None)
    assert parser.feed(b"x") == (b"\r\nOx", [], None)


def test_feeding_an_ended_parser_is_an_error():
    parser = DleParser()
    parser.feed(b"\x10\x03")
    with pytest.raises(ValueError, match="already ended"):
        parser.feed(b"more")


# --- codecs ---------------------------------------------------------------


def test_ulaw_known_values():
    ulaw = CODECS["ulaw"]
    assert ulaw.encode(np.array([0, 32767, -32768], "<i2").tobytes()) == b"\xff\x80\x00"
    assert np.frombuffer(ulaw.decode(b"\x00\x80\xff\x7f"), "<i2").tolist() == [-32124, 32124, 0, 0]


def test_ulaw_decode_matches_a_sample_by_sample_g711():
    decoded = np.frombuffer(CODECS["ulaw"].decode(bytes(range(256))), "<i2")
    assert decoded.tolist() == [ulaw_sample(b) for b in range(256)]


def test_ulaw_encode_agrees_with_a_sample_by_sample_g711():
    ours = np.frombuffer(CODECS["ulaw"].encode(ALL_SAMPLES.tobytes()), np.uint8).astype(int)
    theirs = np.array([ulaw_byte(int(s)) for s in ALL_SAMPLES])
    differ = np.nonzero(ours != theirs)[0]
    # Sun's 14-bit arithmetic rounds some negative samples one code apart.
    assert len(differ) < 0.01 * len(ALL_SAMPLES)
    assert np.all(np.abs(ours[differ] - theirs[differ]) == 1)
    assert np.all(ALL_SAMPLES[differ] < 0)


def test_ulaw_round_trip_error_is_within_one_step():
    ulaw = CODECS["ulaw"]
    back = np.frombuffer(ulaw.decode(ulaw.encode(ALL_SAMPLES.tobytes())), "<i2").astype(int)
    err = np.abs(back - ALL_SAMPLES.astype(int))
    mag = np.abs(ALL_SAMPLES.astype(int))
    assert np.all(err <= np.maximum(mag / 16, 16))


@pytest.mark.parametrize("name, silence", [("linear", 0x80), ("slinear", 0x00)])
def test_linear_codecs_keep_the_top_byte(name, silence):
    codec = CODECS[name]
    encoded = codec.encode(ALL_SAMPLES.tobytes())
    back = np.frombuffer(codec.decode(encoded), "<i2")
    assert np.array_equal(back, ALL_SAMPLES & ~0xFF)
    assert codec.encode(bytes(2)) == bytes([silence]) == bytes([codec.silence])


def test_encoding_odd_length_pcm_is_an_error():
    with pytest.raises(ValueError, match="even length"):
        CODECS["ulaw"].encode(b"\x00\x01\x02")


# --- +VSM ---------------------------------------------------------------------


def test_parse_vsm_reads_both_modem_classes():
    usr = parse_vsm(vsm_lines("usr5637") + ["OK"])
    assert [(o.cml, o.codec) for o in usr] == [
        (1, "linear"), (128, "linear"), (129, None), (131, "ulaw"), (132, None), (133, None)]
    assert usr[0].rates == ((7200, 7200), (8000, 8000))
    cx = parse_vsm(vsm_lines("cx93001"))
    assert [(o.cml, o.label, o.bits, o.codec) for o in cx] == [
        (0, "SIGNED PCM", 8, "slinear"), (1, "UNSIGNED PCM", 8, "linear"), (129, "IMA ADPCM", 4, None)]


def test_parse_vsm_takes_prefixes_ranges_and_skips_junk():
    offers = parse_vsm(['+VSM: 131,"G.711U",8,0,(7200-11025),0,0', "garbage", "", '4,"x",y,0,8000'])
    assert len(offers) == 1
    assert offers[0].codec == "ulaw" and offers[0].offers_rate(8000) and not offers[0].offers_rate(16000)


def test_choose_codec_prefers_ulaw_then_8_bit_linear():
    assert choose_codec(parse_vsm(vsm_lines("usr5637"))).cml == 131
    assert choose_codec(parse_vsm(vsm_lines("cx93001"))).cml == 1
    assert choose_codec(parse_vsm(vsm_lines("cx93001")), "slinear").cml == 0


def test_choose_codec_explains_what_the_modem_offered():
    with pytest.raises(ValueError, match=r'no ulaw codec at 8000 Hz.*129 "IMA ADPCM"'):
        choose_codec(parse_vsm(vsm_lines("cx93001")), "ulaw")
    with pytest.raises(ValueError, match="at 8000 Hz"):
        choose_codec(parse_vsm(['131,"ULAW",8,0,(7200),(0),(0)']))
    with pytest.raises(ValueError, match="unknown codec 'gsm'"):
        choose_codec([], "gsm")


# --- caller ID ----------------------------------------------------------------


@pytest.mark.parametrize("line, parsed", [
    ("NMBR = 5551234", ("NMBR", "5551234")),
    ("NMBR=5551234", ("NMBR", "5551234")),
    ("  nmbr =  5551234  ", ("NMBR", "5551234")),
    ("NAME = JOHN Q PUBLIC", ("NAME", "JOHN Q PUBLIC")),
    ("DATE=0321", ("DATE", "0321")),
    ("TIME = 1405", ("TIME", "1405")),
    ("MESG = 030735353531323334", ("MESG", "030735353531323334")),
    ("DDN_NMBR= 5550000", ("DDN_NMBR", "5550000")),
    ("NMBR:5551234", ("NMBR", "5551234")),
    ("RING", None),
    ("NAMES are not fields", None),
])
def test_parse_cid_line(line, parsed):
    assert parse_cid_line(line) == parsed


def test_caller_fields_handle_missing_and_withheld():
    assert caller_fields({}) == {"caller": "", "name": "", "called": ""}
    assert caller_fields({"NMBR": "5551234"}) == {"caller": "5551234", "name": "", "called": ""}
    assert caller_fields({"NMBR": "P"})["name"] == "withheld"
    assert caller_fields({"NMBR": "O", "NAME": "O"}) == {"caller": "", "name": "unavailable", "called": ""}
    assert caller_fields({"NMBR": "5551234", "NAME": "P"})["name"] == "withheld"
    assert caller_fields({"NMBR": "1", "DDN_NMBR": "2"})["called"] == "2"
