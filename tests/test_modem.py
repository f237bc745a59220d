"""The voice-modem line through real pyserial, against a fake modem on a pty:
rings and caller ID, codecs and audio, DTMF, hanging up (its faults: test_modem_faults.py)."""

import asyncio
import logging
import math

import numpy as np
import pytest

from drivers import HungUp, LineError
from drivers.constants import FRAME_BYTES, RATE
from drivers.modem_protocol import CODECS
from fake_modem import FakeModem
from modem_audio import DTMF_FREQS, tone
from modem_calls import answered, events_of, line_for, read_pcm, run


def level_at(pcm: bytes, freq: float) -> float:
    """Amplitude of ``freq`` in 16-bit PCM at 8 kHz."""
    x = np.frombuffer(pcm, "<i2").astype(float)
    t = np.arange(len(x)) / RATE
    return 2 * abs(np.dot(x, np.exp(-2j * math.pi * freq * t))) / len(x)


def snr_db(sent: np.ndarray, got: np.ndarray) -> float:
    noise = np.sum((sent - got) ** 2) or 1e-9
    return 10 * math.log10(np.sum(sent**2) / noise)


# --- rings and caller ID --------------------------------------------------------


def test_answers_after_the_configured_rings_and_reports_each():
    with FakeModem() as fake:
        async def main():
            async with line_for(fake, "rings=3") as line:
                assert line.realtime is True
                fake.ring(5)
                info = await line.wait_for_call()
                return info, [e.value for e in events_of(line, "ring")]

        info, rings = run(main())
    assert info.rings == 3
    assert rings == [1, 2, 3]


CID_CASES = {
    "spaced": (["DATE = 0321", "TIME = 1405", "NMBR = 5551234", "NAME = ALICE SMITH"],
               ("5551234", "ALICE SMITH", "")),
    "unspaced": (["DATE=0321", "TIME=1405", "NMBR=5559876", "NAME=BOB"], ("5559876", "BOB", "")),
    "number only": (["NMBR = 5551234"], ("5551234", "", "")),
    "no date or time": (["NMBR=5551234", "NAME=CAROL"], ("5551234", "CAROL", "")),
    "withheld": (["DATE = 0321", "TIME = 1405", "NMBR = P"], ("", "withheld", "")),
    "out of area": (["DATE = 0321", "TIME = 1405", "NMBR = O", "NAME = O"], ("", "unavailable", "")),
    "mesg and dialled number": (["MESG = 060342494C4C", "NMBR = 5551234", "DDN_NMBR = 5550100"],
                                ("5551234", "", "5550100")),
}


@pytest.mark.parametrize("case", CID_CASES)
def test_caller_id_formats(case):
    lines, (caller, name, called) = CID_CASES[case]
    with FakeModem() as fake:
        async def main():
            async with line_for(fake, "rings=2") as line:
                fake.ring(2, cid=lines)
                return await line.wait_for_call(), events_of(line, "caller_id")

        info, told = run(main())
    assert (info.caller, info.name, info.called, info.rings) == (caller, name, called, 2)
    assert len(told) == 1 and told[0].value == caller
    for line in lines:
        key, value = (s.strip() for s in line.split("=", 1))
        assert told[0].data["fields"][key] == value


def test_caller_id_before_the_first_ring_uk_style():
    with FakeModem() as fake:
        async def main():
            async with line_for(fake, "rings=1") as line:
                fake.ring(1, cid=["DATE=0321", "TIME=1405", "NMBR=02079460000"], cid_before_ring=True)
                return await line.wait_for_call(), [e.kind for e in events_of(line)]

        info, kinds = run(main())
    assert (info.caller, info.rings) == ("02079460000", 1)
    assert kinds == ["caller_id", "ring"]


def test_a_missed_call_does_not_leak_into_the_next(caplog):
    caplog.set_level(logging.INFO, "drivers.modem")
    with FakeModem() as fake:
        async def main():
            async with line_for(fake, "rings=2&ring_gap=0.4") as line:
                fake.ring(1, cid=["NMBR = 5550001"]).join()
                await asyncio.sleep(0.6)
                fake.ring(2, cid=["NMBR = 5550002"])
                return await line.wait_for_call()

        info = run(main())
    assert (info.caller, info.rings) == ("5550002", 2)
    assert "missed call from 5550001 after 1 ring(s)" in caplog.text


# --- codecs and audio ---------------------------------------------------------


@pytest.mark.parametrize("model, options, command, codec", [
    ("usr5637", "", "AT+VSM=131,8000", "ulaw"),
    ("cx93001", "", "AT+VSM=1,8000", "linear"),
    ("cx93001", "codec=slinear", "AT+VSM=0,8000", "slinear"),
    ("usr5637", "codec=linear", "AT+VSM=1,8000", "linear"),
])
def test_codec_follows_what_vsm_offers(model, options, command, codec):
    with FakeModem(model) as fake:
        async def main():
            line = await answered(fake, f"rings=1&{options}")
            await line.hangup()
            await line.close()
            return line

        line = run(main())
    assert line.offer.codec == codec
    assert command in fake.commands
    assert fake.commands.index("AT+VSM=?") < fake.commands.index(command) < fake.commands.index("AT+VTR")
    assert fake.commands[-2:] == ["ATH0", "AT+FCLASS=0"]


def test_a_codec_the_modem_lacks_is_a_clear_error():
    with FakeModem("cx93001") as fake:
        with pytest.raises(LineError, match=r'no ulaw codec at 8000 Hz \(\+VSM=\? said: 0 "SIGNED PCM"'):
            run(line_for(fake, "codec=ulaw").open())


@pytest.mark.parametrize("model, codec, least_snr", [
    ("usr5637", "ulaw", 30), ("cx93001", "linear", 25), ("cx93001", "slinear", 25)])
def test_audio_crosses_both_ways(model, codec, least_snr):
    sent = np.frombuffer(tone((1000, 1633), 200, level=6000), "<i2").astype(float)
    with FakeModem(model) as fake:
        async def main():
            # echo=off: the canceller's DC notch shifts the phase, and this compares waveforms
            line = await answered(fake, f"rings=1&codec={codec}&echo=off")
            fake.play(sent.astype("<i2").tobytes())
            heard = b""
            while len(heard) < 2 * len(sent) + 16000:
                heard += await line.read_frame()
            out = tone((697, 1209), 160, level=6000)
            for i in range(0, len(out), FRAME_BYTES):
                await line.write_frame(out[i : i + FRAME_BYTES])
            await line.hangup()
            await line.close()
            return heard, out

        heard, out = run(main())
    got = np.frombuffer(heard, "<i2").astype(float)
    start = int(np.argmax(got != 0)) - 1
    assert snr_db(sent, got[start : start + len(sent)]) > least_snr
    back = np.frombuffer(bytes(fake.received), "<i2").astype(float)
    assert len(back) == len(out) // 2
    assert snr_db(np.frombuffer(out, "<i2").astype(float), back) > least_snr


@pytest.mark.parametrize("codec", ["ulaw", "linear"])
def test_0x10_bytes_are_doubled_both_ways_and_survive_split_reads(codec):
    awkward = CODECS[codec].decode(bytes([0x10, 0x10, 0x03, 0x10, 0x21, 0x10]) * 80)
    with FakeModem("usr5637", split_dle=True) as fake:
        async def main():
            line = await answered(fake, f"rings=1&codec={codec}&echo=off")  # compares bytes
            for i in range(0, len(awkward), FRAME_BYTES):
                await line.write_frame(awkward[i : i + FRAME_BYTES])
            await asyncio.sleep(0.1)
            for _ in range(3):
                fake.play(awkward)
            frames = []
            while awkward not in b"".join(frames[-6:]):
                frames.append(await line.read_frame())
            await line.hangup()
            await line.close()

        run(main())
    assert bytes(fake.received) == awkward


# --- DTMF ---------------------------------------------------------------------


def test_modem_reported_dtmf_with_repeats_de_duplicated():
    with FakeModem(split_dle=True) as fake:
        async def main():
            line = await answered(fake)
            fake.dtmf("1")
            fake.dtmf("2", style="bracket")
            fake.dtmf("2", style="bracket")
            fake.dtmf("#", style="bracket", with_tone=False)
            pcm = await read_pcm(line, 60)
            await line.hangup()
            await line.close()
            return [e.value for e in events_of(line, "dtmf")], pcm

        digits, pcm = run(main())
    assert digits == ["1", "2", "2", "#"]
    # the first key's tone came through as audio too
    samples = np.frombuffer(pcm, "<i2")
    start = int(np.argmax(samples != 0))
    first = samples[start : start + 960].tobytes()
    low, high = DTMF_FREQS["1"]
    assert level_at(first, low) > 6000 and level_at(first, high) > 6000
    assert level_at(first, DTMF_FREQS["2"][1]) < 500


# --- hanging up -------------------------------------------------------------------


@pytest.mark.parametrize("code, reason", [("l", "loop current dropped"), ("b", "busy tone"), ("s", "silence")])
@pytest.mark.parametrize("end_with", ["dle_etx", "ok", None])
def test_the_far_end_hanging_up(code, reason, end_with):
    with FakeModem(end_with=end_with or "dle_etx") as fake:
        async def main():
            line = await answered(fake)
            await read_pcm(line, 2)
            fake.hang_up(code, end=end_with is not None)
            with pytest.raises(HungUp, match=reason):
                while True:
                    await line.read_frame()
            with pytest.raises(HungUp):
                await line.read_frame()
            with pytest.raises(HungUp):
                await line.write_frame(bytes(FRAME_BYTES))
            await line.hangup()
            # the line takes the next call
            fake.ring(1, cid=["NMBR=5550003"], cid_before_ring=True)
            info = await line.wait_for_call()
            await line.answer()
            await line.read_frame()
            await line.hangup()
            await line.close()
            return line, info

        line, info = run(main())
    assert [e.value for e in events_of(line, "hangup")] == [reason]
    assert info.caller == "5550003"
    assert fake.commands.count("AT+VTR") == 2 and fake.commands[-1] == "AT+FCLASS=0"
    assert not fake.streaming


@pytest.mark.parametrize("end_with", ["dle_etx", "ok"])
def test_hanging_up_ends_the_stream_either_way_and_stays_in_step(end_with):
    with FakeModem(end_with=end_with) as fake:
        async def main():
            line = await answered(fake)
            await read_pcm(line, 3)
            await line.hangup()
            ident = await line.command("ATI")
            await line.close()
            return ident

        assert run(main()) == ["5601"]
    assert fake.commands[-3:] == ["ATH0", "AT+FCLASS=0", "ATI"]


def test_a_stream_the_modem_ends_by_itself_is_a_hang_up():
    with FakeModem(end_with="ok") as fake:
        async def main():
            line = await answered(fake)
            fake.end_stream()
            with pytest.raises(HungUp, match="ended the voice stream with OK"):
                while True:
                    await line.read_frame()
            await line.hangup()
            await line.close()

        run(main())


def test_a_modem_without_full_duplex_refuses_to_answer_clearly():
    with FakeModem(duplex=False) as fake:
        async def main():
            async with line_for(fake, "rings=1") as line:
                fake.ring(1)
                await line.wait_for_call()
                await line.answer()

        with pytest.raises(LineError, match=r"answered 'ERROR' to AT\+VTR"):
            run(main())
    assert fake.commands[-1] == "ATH0" and not fake.offhook


def test_a_declined_call_is_let_ring_out_not_answered_again():
    """After <Reject> the box hangs up without answering; the same caller's
    rings go on, and must not be counted as a new call."""
    with FakeModem("usr5637") as fake:
        async def main():
            line = line_for(fake, "rings=2&ring_gap=0.3")
            await line.open()
            try:
                fake.ring(6, interval=0.05)
                await line.wait_for_call()
                await line.hangup()  # declined: never answered
                nxt = asyncio.create_task(line.wait_for_call())
                await asyncio.sleep(0.7)  # rings 3 to 6 come and go, then the caller gives up
                assert not nxt.done()
                fake.ring(2, interval=0.05)
                return await asyncio.wait_for(nxt, 3)
            finally:
                await line.close()

        assert run(main()).rings == 2
