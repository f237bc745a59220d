"""PulseAudio null sinks standing in for a USB sound card, for real PyAudio tests.

A fake card is two null sinks: ``NAME_spk`` takes what the box plays (its
monitor is recorded) and ``NAME_mic`` takes what the caller plays (the box
captures its monitor). PyAudio sees the pair as one ALSA device called
``NAME`` through an ``asym`` PCM of the ALSA pulse plugin, added to the
process's ALSA configuration with ``ALSA_CONFIG_PATH``: so the line under
test picks its device by name exactly as it would pick a real USB card.

Two things make null sinks behave like a card:
- ``module-suspend-on-idle`` is unloaded: a suspended null sink's monitor
  delivers nothing, so a line capturing it would stall;
- the caller plays continuously at 20 ms latency (a phone line always
  carries sound), otherwise the sink renders in two-second blocks.

In CI (root, no login session) ``ensure_pulseaudio`` runs
``pulseaudio -D --exit-idle-time=-1 --system=false --disallow-exit`` and
waits for ``pactl info``.
"""

from __future__ import annotations

import contextlib
import os
import queue
import subprocess
import tempfile
import threading
import time

import numpy as np

from drivers.constants import FRAME_BYTES, FRAME_SECONDS, RATE

PCM_ARGS = ["--raw", f"--rate={RATE}", "--channels=1", "--format=s16le", "--latency-msec=20"]


def pactl(*args: str) -> str:
    return subprocess.run(["pactl", *args], check=True, capture_output=True, text=True).stdout


def ensure_pulseaudio(alsa_conf: str) -> None:
    """Start PulseAudio if it is not running and point ALSA at ``alsa_conf``."""
    if subprocess.run(["pactl", "info"], capture_output=True).returncode != 0:
        subprocess.run(["pulseaudio", "-D", "--exit-idle-time=-1", "--system=false",
                        "--disallow-exit"], check=True, capture_output=True)
        deadline = time.monotonic() + 10
        while subprocess.run(["pactl", "info"], capture_output=True).returncode != 0:
            if time.monotonic() > deadline:
                raise RuntimeError("pulseaudio did not come up")
            time.sleep(0.1)
    subprocess.run(["pactl", "unload-module", "module-suspend-on-idle"], capture_output=True)
    os.environ["ALSA_CONFIG_PATH"] = f"/usr/share/alsa/alsa.conf:{alsa_conf}"


def alsa_pcm(name: str) -> str:
    """The ALSA config for fake card ``name``."""
    return (f'pcm.{name} {{\n  type asym\n'
            f'  playback.pcm {{ type pulse; device "{name}_spk" }}\n'
            f'  capture.pcm {{ type pulse; device "{name}_mic.monitor" }}\n'
            f'  hint {{ show on; description "fake USB card {name}" }}\n}}\n')


def restart_clock(sink: str, streams: str) -> None:
    """Wait for a stream on ``sink`` (or its monitor), then suspend and resume the sink.

    An idle null sink renders up to two seconds ahead; after the suspend it
    restarts at the latency its streams ask for, so audio flows in 20 ms.
    """
    column = 1
    target = None
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        kind = "sinks" if streams == "sink-inputs" else "sources"
        name = sink if streams == "sink-inputs" else f"{sink}.monitor"
        for line in pactl("list", "short", kind).splitlines():
            if line.split()[1] == name:
                target = line.split()[0]
        if target and any(line.split()[column] == target
                          for line in pactl("list", "short", streams).splitlines()):
            break
        time.sleep(0.02)
    else:
        raise RuntimeError(f"no stream appeared on {sink}")
    pactl("suspend-sink", sink, "1")
    pactl("suspend-sink", sink, "0")


class FakeCard:
    """The two null sinks of one fake card; ``unplug``/``plug`` remove and restore them."""

    def __init__(self, name: str, rate: int = 48000) -> None:
        self.name, self.rate = name, rate
        self.modules: list[str] = []
        self.keeper = None

    def plug(self) -> None:
        for role in ("spk", "mic"):
            self.modules.append(pactl("load-module", "module-null-sink",
                                      f"sink_name={self.name}_{role}", f"rate={self.rate}",
                                      "channels=1").strip())
        # A low-latency listener keeps the speaker side rendering in 20 ms steps,
        # as a card's DAC would; without it a full-duplex stream waits seconds.
        self.keeper = subprocess.Popen(["parec", f"--device={self.name}_spk.monitor", *PCM_ARGS],
                                       stdout=subprocess.DEVNULL)
        restart_clock(f"{self.name}_spk", "source-outputs")

    def unplug_leftovers(self) -> None:
        """Unload sinks of this name left by a test run that was killed."""
        for line in pactl("list", "short", "modules").splitlines():
            if f"sink_name={self.name}_" in line:
                subprocess.run(["pactl", "unload-module", line.split()[0]], capture_output=True)

    def unplug(self) -> None:
        """Remove the card as a USB unplug would: its streams die, its device goes.

        PulseAudio would move the streams of a removed sink to another one;
        a real card's streams fail instead, so the streams are killed first.
        """
        ids = {line.split()[1]: line.split()[0]
               for kind in ("sinks", "sources") for line in pactl("list", "short", kind).splitlines()
               if line.split()[1].startswith(f"{self.name}_")}
        doomed = [(verb, line.split()[0])
                  for kind, verb in (("sink-inputs", "kill-sink-input"),
                                     ("source-outputs", "kill-source-output"))
                  for line in pactl("list", "short", kind).splitlines()
                  if line.split()[1] in ids.values()]
        # Killed before the sinks go: once a sink is unloaded, PulseAudio moves its
        # streams to any other sink or source (a card another test left behind).
        for verb, index in doomed:
            subprocess.run(["pactl", verb, index], capture_output=True)
        for module in self.modules:
            subprocess.run(["pactl", "unload-module", module], capture_output=True)
        self.modules.clear()
        if self.keeper is not None:
            self.keeper.terminate()
            self.keeper.wait()
            self.keeper = None


def tone(*freqs: float, seconds: float, volume: float = 0.4) -> bytes:
    """A tone (or a DTMF pair) made by sox ``synth``, as 8 kHz PCM."""
    synth = [w for f in freqs for w in ("sine", str(f))]
    return subprocess.run(["sox", "-n", "-r", str(RATE), "-b", "16", "-e", "signed", "-c", "1",
                           "-t", "raw", "-", "synth", str(seconds), *synth, "channels", "1",
                           "vol", str(volume)], check=True, capture_output=True).stdout


_pcms: dict[str, str] = {}


def unique(name: str) -> str:
    """A card name of this test process's own: PulseAudio is shared by every process of the user,
    and ``unplug_leftovers`` would take another test run's card of the same name."""
    return f"{name}_{os.getpid()}"


@contextlib.contextmanager
def fake_card(name: str, rate: int = 48000):
    """Plug in fake card ``name`` for the duration of the block.

    Each card gets its own PCM in one per-process ALSA config file, so test
    modules can each own a card without seeing one another's.
    """
    path = os.path.join(tempfile.gettempdir(), f"ivrtest-alsa-{os.getpid()}.conf")

    def write_config() -> None:
        with open(path, "w") as f:
            f.write("".join(_pcms.values()))

    _pcms[name] = alsa_pcm(name)
    write_config()
    ensure_pulseaudio(path)
    card = FakeCard(name, rate)
    card.unplug_leftovers()
    card.plug()
    try:
        yield card
    finally:
        card.unplug()
        # A card unplugged for good leaves the device list, so a later test's
        # name search cannot land on it.
        del _pcms[name]
        write_config()


class Caller:
    """A second process (``pacat``) playing into the card's microphone side.

    It plays silence in real time until ``play`` queues audio, so what it
    plays arrives within a few frames.
    """

    def __init__(self, card: FakeCard) -> None:
        self.proc = subprocess.Popen(["pacat", "--playback", f"--device={card.name}_mic",
                                      *PCM_ARGS], stdin=subprocess.PIPE)
        self.proc.stdin.write(bytes(FRAME_BYTES * 2))
        self.proc.stdin.flush()
        restart_clock(f"{card.name}_mic", "sink-inputs")
        self.audio: queue.Queue[bytes] = queue.Queue()
        self.running = True
        self.thread = threading.Thread(target=self._feed, daemon=True)
        self.thread.start()

    def play(self, pcm: bytes) -> None:
        for start in range(0, len(pcm), FRAME_BYTES):
            self.audio.put(pcm[start:start + FRAME_BYTES].ljust(FRAME_BYTES, b"\0"))

    def _feed(self) -> None:
        start, sent = time.monotonic(), 0
        while self.running:
            ahead = sent * FRAME_SECONDS - (time.monotonic() - start)
            if ahead > 0.04:
                time.sleep(ahead - 0.04)
                continue
            try:
                frame = self.audio.get_nowait()
            except queue.Empty:
                frame = bytes(FRAME_BYTES)
            try:
                self.proc.stdin.write(frame)
                self.proc.stdin.flush()
            except (BrokenPipeError, ValueError):
                return
            sent += 1

    def stop(self) -> None:
        self.running = False
        self.thread.join()
        self.proc.stdin.close()
        self.proc.terminate()
        self.proc.wait()


class Recorder:
    """A second process (``parec``) recording what the box plays into the card."""

    def __init__(self, sink: str) -> None:
        self.proc = subprocess.Popen(["parec", f"--device={sink}.monitor", *PCM_ARGS],
                                     stdout=subprocess.PIPE)
        self.data = bytearray()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 5
        while len(self.data) < FRAME_BYTES * 5:  # recording for real before the test goes on
            if time.monotonic() > deadline:
                raise RuntimeError(f"parec on {sink}.monitor records nothing")
            time.sleep(0.01)

    def _read(self) -> None:
        while chunk := self.proc.stdout.read1(4096):
            self.data += chunk

    def stop(self) -> np.ndarray:
        self.proc.terminate()
        self.proc.wait()
        self.thread.join()
        return np.frombuffer(bytes(self.data[:len(self.data) // 2 * 2]), np.int16)


def peaks(samples: np.ndarray, count: int = 1, rate: int = RATE) -> list[float]:
    """The ``count`` strongest frequencies (Hz) in ``samples``, at least 100 Hz apart."""
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    freqs = np.fft.rfftfreq(len(samples), 1 / rate)
    found = []
    for i in np.argsort(spectrum)[::-1]:
        if all(abs(freqs[i] - f) > 100 for f in found):
            found.append(float(freqs[i]))
        if len(found) == count:
            return sorted(found)
    return sorted(found)


def active_span(samples: np.ndarray, threshold: float = 1000.0) -> tuple[int, int]:
    """First and last sample index of 10 ms blocks louder than ``threshold`` RMS."""
    blocks = samples[:len(samples) // 80 * 80].reshape(-1, 80).astype(np.float64)
    loud = np.flatnonzero(np.sqrt((blocks ** 2).mean(axis=1)) > threshold)
    if not len(loud):
        return 0, 0
    return int(loud[0]) * 80, int(loud[-1] + 1) * 80



class LoopbackEcho:
    """A 2-wire line's hybrid between a fake card's speaker and its microphone,
    inside PulseAudio, so that it keeps time with the card as a real hybrid does.

    ``module-loopback`` (``adjust_time=0``: never resampled to chase a
    latency) records the speaker's monitor and plays it into the microphone
    sink at ``DELAY`` ms of latency, with the return loss as its stream's
    volume (``echo="10dB,20ms"``). It is flat: unlike ``drivers.impair``'s
    hybrid it has no dispersion. What the caller says (``play``) comes from
    a separate ``Caller``, mixed in by the microphone sink. A rig in a
    Python process between ``parec`` and ``pacat`` moved the echo by
    100-200 ms from run to run with those tools' buffering.
    """

    def __init__(self, card: FakeCard, echo: str) -> None:
        from drivers.impair import Impairments

        path = Impairments.parse(f"echo={echo}")
        self.module = pactl("load-module", "module-loopback", f"source={card.name}_spk.monitor",
                            f"sink={card.name}_mic", f"latency_msec={max(round(path.echo_ms), 1)}",
                            "adjust_time=0", "source_dont_move=true", "sink_dont_move=true", "remix=false",
                            "channels=1", f"rate={card.rate}").strip()
        stream = None
        for block in pactl("list", "sink-inputs").split("Sink Input #")[1:]:
            if f"Owner Module: {self.module}\n" in block:
                stream = block.split()[0]
        if stream is None:
            raise RuntimeError(f"module-loopback {self.module} made no stream")
        # a linear factor: "-10dB" would be relative to the volume module-stream-restore kept from the last run
        pactl("set-sink-input-volume", stream, f"{10 ** (-path.echo_db / 20):.6f}")
        self.caller = Caller(card)

    def play(self, pcm: bytes) -> None:
        self.caller.play(pcm)

    def stop(self) -> None:
        self.caller.stop()
        subprocess.run(["pactl", "unload-module", self.module], capture_output=True)
