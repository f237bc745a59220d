"""``ivrbox dtmf FILE`` as a real subprocess, on files made by sox."""

import pathlib
import subprocess
import sys

import numpy as np
import pytest

from firmware_app.listen.tones import dtmf_audio

IVRBOX = str(pathlib.Path(sys.executable).with_name("ivrbox"))
DIGITS = "0123456789*#ABCD"


def ivrbox_dtmf(path):
    return subprocess.run([IVRBOX, "dtmf", str(path)], capture_output=True, text=True, timeout=60)


def sox_from_8k(tmp_path, pcm, name, *args):
    raw = tmp_path / "in.raw"
    pcm.astype("<i2").tofile(raw)
    out = tmp_path / name
    subprocess.run(["sox", "-t", "raw", "-r", "8000", "-e", "signed", "-b", "16", "-c", "1", str(raw), *args, str(out)], check=True)
    return out


@pytest.mark.parametrize(
    "name,args",
    [
        ("stereo44.wav", ["-r", "44100", "-c", "2"]),
        ("stereo48.wav", ["-r", "48000", "-c", "2"]),
        ("eightbit.wav", ["-r", "11025", "-b", "8", "-e", "unsigned"]),
        ("mono8k.wav", []),
    ],
)
def test_prints_the_digits_on_one_line(tmp_path, name, args):
    path = sox_from_8k(tmp_path, dtmf_audio(DIGITS + "w159"), name, *args)
    result = ivrbox_dtmf(path)
    assert (result.returncode, result.stdout) == (0, DIGITS + "159\n")


def test_a_one_sample_file_has_no_digits(tmp_path):
    path = sox_from_8k(tmp_path, np.array([1000], np.int16), "one.wav", "-r", "48000", "-c", "2")
    result = ivrbox_dtmf(path)
    assert (result.returncode, result.stdout) == (0, "\n")


@pytest.mark.parametrize(
    "content,message",
    [(b"", "empty file"), (b"RIFF this is not a wav at all" * 10, "not a readable audio file")],
)
def test_bad_files_get_a_clear_error(tmp_path, content, message):
    path = tmp_path / "bad.wav"
    path.write_bytes(content)
    result = ivrbox_dtmf(path)
    assert result.returncode == 1
    assert message in result.stderr and "Traceback" not in result.stderr


def test_a_missing_file_gets_a_clear_error(tmp_path):
    result = ivrbox_dtmf(tmp_path / "nope.wav")
    assert result.returncode == 1 and "No such file" in result.stderr
