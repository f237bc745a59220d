"""The recordings store, its HTTP server (a real aiohttp server on a free port)
and ``ivrbox recordings``, run as a subprocess."""

import asyncio
import subprocess
import sys
import time
import wave
from pathlib import Path

import aiohttp
import miniaudio
import numpy as np
import pytest

from firmware_app.config import ConfigError, load
from firmware_app.recordings.server import RecordingServer
from firmware_app.recordings.store import RecordingStore, StoreError
from firmware_app.recordings.take import beep

IVRBOX = str(Path(sys.executable).with_name("ivrbox"))
ACCOUNT = "AC" + "1" * 32
CALL = "CA" + "2" * 32


def tone(seconds: float, hz: float = 440.0) -> bytes:
    t = np.arange(int(seconds * 8000)) / 8000
    return (8000 * np.sin(2 * np.pi * hz * t)).astype("<i2").tobytes()


def peak_hz(pcm: bytes | np.ndarray, rate: int = 8000) -> float:
    x = np.frombuffer(pcm, "<i2") if isinstance(pcm, bytes) else pcm
    return float(np.argmax(np.abs(np.fft.rfft(x)))) * rate / len(x)


def test_save_writes_an_8khz_mono_wav_and_indexes_it(tmp_path):
    store = RecordingStore(tmp_path)
    rec = store.save(tone(1.5), call_sid=CALL, caller="+4930123456", called="+15550199")
    assert rec.sid.startswith("RE") and len(rec.sid) == 34 and int(rec.sid[2:], 16) >= 0
    with wave.open(str(store.path(rec.sid))) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth(), w.getnframes()) == (8000, 1, 2, 12000)
        assert w.readframes(12000) == tone(1.5)
    again = RecordingStore(tmp_path).get(rec.sid)
    assert (again.call_sid, again.caller, again.duration, again.heard) == (CALL, "+4930123456", 1.5, False)
    assert not list(tmp_path.glob("*.part"))


def test_paths_only_for_recording_sids(tmp_path):
    store = RecordingStore(tmp_path)
    for bad in ("../recordings", "RE" + "0" * 31 + "/", "RE" + "G" * 32, "/etc/passwd", "RE" + "0" * 32 + "/.."):
        with pytest.raises(KeyError):
            store.path(bad)


def test_retention_drops_old_then_oldest_over_size_and_keeps_the_newest(tmp_path):
    store = RecordingStore(tmp_path, max_mb=0.1, max_days=7)     # 0.1 MB: about six 1 s recordings
    now = time.time()
    ancient = store.save(tone(0.1), call_sid=CALL, caller="a", created_at=now - 8 * 86400)
    assert store.get(ancient.sid) is not None                   # the one just saved is kept
    first = store.save(tone(1), call_sid=CALL, caller="b", created_at=now - 100)
    assert store.get(ancient.sid) is None and not store.path(ancient.sid).exists()
    later = [store.save(tone(1), call_sid=CALL, caller="c", created_at=now - 99 + i) for i in range(6)]
    assert store.get(first.sid) is None and not store.path(first.sid).exists()
    assert store.total_bytes() <= 0.1 * 1024 * 1024
    assert store.get(later[-1].sid) is not None
    big = store.save(tone(10), call_sid=CALL, caller="d")      # alone over the limit: kept, the rest go
    assert [r.sid for r in store.list()] == [big.sid]


@pytest.mark.parametrize("key,value", [("max_mb", "inf"), ("max_mb", "nan"), ("max_days", "-1.0"),
                                       ("max_days", "0"), ("port", "70000"), ("http_auth", '"yes"')])
def test_config_refuses_non_finite_and_bad_values(tmp_path, key, value):
    path = tmp_path / "c.toml"
    path.write_text(f"[recordings]\n{key} = {value}\n")
    with pytest.raises(ConfigError, match=f"recordings\\] {key}"):
        load(path)


def test_readonly_store_refuses_writes(tmp_path):
    RecordingStore(tmp_path).save(tone(0.5), call_sid=CALL, caller="x")
    ro = RecordingStore(tmp_path, readonly=True)
    assert len(ro.list()) == 1
    with pytest.raises(StoreError, match="read-only"):
        ro.save(tone(0.5), call_sid=CALL, caller="x")


async def _serve(store, **kw):
    server = RecordingServer(store, account_sid=ACCOUNT, auth_token="tok", **kw)
    await server.start()
    return server


def test_served_as_wav_by_default_and_as_mp3(tmp_path):
    store = RecordingStore(tmp_path)
    pcm = beep() * 4                                             # 2 s of 1 kHz
    rec = store.save(pcm, call_sid=CALL, caller="x")

    async def run():
        server = await _serve(store)
        url = server.recording_url(rec.sid)
        assert url.startswith("http://127.0.0.1:") and url.endswith(f"/2010-04-01/Accounts/{ACCOUNT}/Recordings/"
                                                                     f"{rec.sid}")
        async with aiohttp.ClientSession() as http:
            bodies = {}
            for ext in ("", ".wav", ".mp3", ".flac"):
                async with http.get(url + ext) as r:
                    bodies[ext] = (r.status, r.headers.get("Content-Type"), await r.read())
            async with http.get(url.replace(ACCOUNT, "AC" + "9" * 32)) as r:
                other_account = r.status
            async with http.get(url.replace(rec.sid, "RE" + "f" * 32)) as r:
                missing = r.status
            async with http.get(url.rsplit("/", 1)[0] + "/..%2F..%2Frecordings.sqlite") as r:
                traversal = r.status
        await server.stop()
        return bodies, other_account, missing, traversal

    bodies, other_account, missing, traversal = asyncio.run(run())
    assert bodies[""][:2] == (200, "audio/x-wav") and bodies[""][2] == store.path(rec.sid).read_bytes()
    assert bodies[".wav"][2] == bodies[""][2]
    status, kind, mp3 = bodies[".mp3"]
    assert (status, kind, mp3[0], mp3[1] & 0xE0) == (200, "audio/mpeg", 0xFF, 0xE0)    # an MPEG frame sync
    decoded = miniaudio.decode(mp3, output_format=miniaudio.SampleFormat.SIGNED16, nchannels=1, sample_rate=8000)
    samples = np.asarray(decoded.samples)
    assert 0 <= len(samples) / 8000 - 2.0 < 0.2        # LAME adds its delay and padding: two 576-sample frames
    assert abs(peak_hz(samples) - 1000) < 10
    assert bodies[".flac"][0] == 404
    assert (other_account, missing, traversal) == (404, 404, 404)
    assert store.get(rec.sid).heard


def test_basic_auth_with_account_sid_and_token(tmp_path):
    store = RecordingStore(tmp_path)
    rec = store.save(tone(0.5), call_sid=CALL, caller="x")

    async def run():
        server = await _serve(store, http_auth=True)
        url = server.recording_url(rec.sid)
        out = []
        async with aiohttp.ClientSession() as http:
            for auth in ({}, {"Authorization": aiohttp.encode_basic_auth(ACCOUNT, "wrong")},
                         {"Authorization": aiohttp.encode_basic_auth("AC" + "3" * 32, "tok")},
                         {"Authorization": aiohttp.encode_basic_auth(ACCOUNT, "tok")}):
                async with http.get(url, headers=auth) as r:
                    out.append((r.status, r.headers.get("WWW-Authenticate", "")))
        await server.stop()
        return out

    out = asyncio.run(run())
    assert [s for s, _ in out] == [401, 401, 401, 200]
    assert out[0][1].startswith("Basic")
    assert store.get(rec.sid).heard


def test_transcription_url_serves_the_text(tmp_path):
    store = RecordingStore(tmp_path)
    rec = store.save(tone(0.5), call_sid=CALL, caller="x")
    store.set_transcription(rec.sid, "TR" + "4" * 32, "completed", "네 네")

    async def run():
        server = await _serve(store)
        async with aiohttp.ClientSession() as http:
            async with http.get(server.transcription_url("TR" + "4" * 32)) as r:
                body = await r.json()
            async with http.get(server.transcription_url("TR" + "4" * 32) + ".txt") as r:
                text = await r.text()
            async with http.get(server.transcription_url("TR" + "5" * 32)) as r:
                missing = r.status
        await server.stop()
        return body, text, missing

    body, text, missing = asyncio.run(run())
    assert (body["recording_sid"], body["status"], body["transcription_text"]) == (rec.sid, "completed", "네 네")
    assert (text, missing) == ("네 네", 404)


def cli(tmp_path, *args, env=None):
    config = tmp_path / "config.toml"
    config.write_text(f'[recordings]\ndir = "{tmp_path / "rec"}"\n')
    return subprocess.run([IVRBOX, "recordings", *args, "--config", str(config)], capture_output=True, text=True,
                          timeout=60, env=env)


def test_cli_list_export_delete(tmp_path):
    empty = cli(tmp_path)
    assert empty.returncode == 0 and empty.stdout.startswith("0 recordings")
    store = RecordingStore(tmp_path / "rec")
    a = store.save(beep() * 2, call_sid=CALL, caller="+4930123456")
    b = store.save(tone(2), call_sid=CALL, caller="+15550100")
    store.set_transcription(b.sid, "TR" + "6" * 32, "completed", "네 네 네")
    store.close()
    listed = cli(tmp_path, "list")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0].startswith("2 recordings")
    assert lines[1].startswith(b.sid) and "+15550100" in lines[1] and "네 네 네" in lines[1] and "NEW" in lines[1]
    assert lines[2].startswith(a.sid) and "1.0 s" in lines[2]

    out = tmp_path / "out"
    exported = cli(tmp_path, "export", a.sid, "-o", str(out))
    assert exported.returncode == 0, exported.stderr
    assert (out / f"{a.sid}.wav").read_bytes() == (tmp_path / "rec" / f"{a.sid}.wav").read_bytes()
    mp3 = cli(tmp_path, "export", "--all", "--mp3", "-o", str(out))
    assert mp3.returncode == 0 and (out / f"{b.sid}.mp3").stat().st_size > 1000

    bad = cli(tmp_path, "delete", "RE" + "0" * 32, "../../etc/passwd")
    assert bad.returncode == 1 and "Traceback" not in bad.stderr and "no recording" in bad.stderr
    gone = cli(tmp_path, "delete", a.sid)
    assert gone.returncode == 0 and gone.stdout.strip() == f"deleted {a.sid}"
    assert not (tmp_path / "rec" / f"{a.sid}.wav").exists()
    assert cli(tmp_path).stdout.startswith("1 recordings")
    missing_args = cli(tmp_path, "export")
    assert missing_args.returncode == 2 and "SID" in missing_args.stderr


def test_cli_reads_without_writing(tmp_path):
    store = RecordingStore(tmp_path / "rec")
    rec = store.save(tone(1), call_sid=CALL, caller="x")
    store.close()
    before = {p.name: (p.stat().st_mtime_ns, p.stat().st_size) for p in (tmp_path / "rec").iterdir()}
    assert cli(tmp_path, "list").returncode == 0
    assert cli(tmp_path, "export", rec.sid, "-o", str(tmp_path / "out")).returncode == 0
    after = {p.name: (p.stat().st_mtime_ns, p.stat().st_size) for p in (tmp_path / "rec").iterdir()}
    assert after == before

