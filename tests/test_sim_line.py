"""The simulated line on its own: its caller speaks with what it is handed."""

import asyncio

import numpy as np
import pytest

from drivers import LineError, open_line
from drivers.constants import FRAME_SAMPLES, SILENCE
from drivers.sim import ScriptError, SimLine


def first_frames(line, count):
    async def main():
        await line.answer()
        frames = [await line.read_frame() for _ in range(count)]
        await line.hangup()
        return frames

    return asyncio.run(main())


def test_dtmf_steps_play_what_the_tone_maker_makes():
    asked = []

    def tones(keys):
        asked.append(keys)
        return np.arange(2 * FRAME_SAMPLES, dtype=np.int16)

    frames = first_frames(SimLine(script="dtmf:12#", tones=tones), 3)
    assert asked == ["12#"]
    assert frames[:2] == [np.arange(i * FRAME_SAMPLES, (i + 1) * FRAME_SAMPLES, dtype=np.int16).tobytes()
                          for i in range(2)]
    assert frames[2] == SILENCE


def test_wav_steps_go_through_the_decoder(tmp_path):
    path = tmp_path / "one.raw"
    path.write_bytes(b"anything")
    pcm = np.full(FRAME_SAMPLES, 1000, np.int16).tobytes()
    line = SimLine(script=f"wav:{path}", decode=lambda data: pcm if data == b"anything" else b"")
    assert first_frames(line, 2) == [pcm, SILENCE]


def test_a_decoder_that_refuses_the_file_is_a_script_error(tmp_path):
    path = tmp_path / "text.wav"
    path.write_text("not audio")

    def decode(data):
        raise ValueError("cannot decode the audio")

    with pytest.raises(ScriptError, match=f"wav:{path}: cannot decode the audio"):
        SimLine(script=f"wav:{path}", decode=decode)


@pytest.mark.parametrize("script, missing", [("dtmf:1", "a tone maker"), ("say:'hi'", "a speech synthesizer"),
                                             ("wav:x.wav", "an audio decoder")])
def test_a_script_needing_a_maker_it_was_not_handed_is_refused(script, missing):
    with pytest.raises(ScriptError, match=missing):
        SimLine(script=script)


def test_sim_options_are_typed():
    line = open_line("sim:?max_seconds=1.5&caller=%2B4420")
    assert line.max_frames == 75 and line.info.caller == "+4420"
    with pytest.raises(LineError, match="unknown sim option.*speed"):
        open_line("sim:?speed=2")
    with pytest.raises(LineError, match="sim option max_seconds='soon' is not a number"):
        open_line("sim:?max_seconds=soon")
