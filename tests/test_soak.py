"""A short soak: a few hundred back-to-back simulated calls through serve(),
the loop ``ivrbox run`` runs, must leave memory, fds and threads flat.
``python -m bench soak`` runs the long version and prints the figures."""

from __future__ import annotations

import os

from bench.soak_bench import TwimlProcess, demo_script, soak

WARMUP, CALLS, EVERY = 50, 150, 25
# RSS moves by up to ~1.2 MB when a new executor thread gets its malloc arena;
# a leak of 14 kB a call still shows, and smaller ones show in the object count.
RSS_SLACK_KB = 2048
OBJECT_SLACK = 300  # the live count swings by ~180 in a 100-call cycle; 2 leaked objects a call show


def assert_flat(run) -> None:
    before = run.at(WARMUP)
    after = [s for s in run.samples if s.calls > WARMUP]
    assert after[-1].calls == WARMUP + CALLS
    assert all(s.fds == before.fds for s in after), run.samples
    # The loop's default executor (HTTP fetches) may still add idle workers up to its bound.
    executor = min(32, (os.cpu_count() or 1) + 4)
    assert max(s.threads for s in after) <= run.samples[0].threads + executor, run.samples
    assert max(s.rss_kb for s in after) - before.rss_kb <= RSS_SLACK_KB, run.samples
    assert max(s.objects for s in after) - before.objects <= OBJECT_SLACK, run.samples


def test_demo_flow_stays_flat(tmp_path):
    run = soak("flows:/demo/index.xml", WARMUP + CALLS, EVERY, demo_script, tmp_path)
    total = WARMUP + CALLS
    # Each call goes menu -> 2 -> number entered -> menu -> 0 -> goodbye.
    assert run.events["hangup"] == total and run.events["gather"] == 3 * total
    assert "error" not in run.events, run.events
    assert_flat(run)


def test_http_flow_stays_flat(tmp_path):
    with TwimlProcess() as url:
        run = soak(url, WARMUP + CALLS, EVERY, lambda n: "wait:prompt dtmf:4321", tmp_path)
    total = WARMUP + CALLS
    assert run.events["request"] == 2 * total and run.events["hangup"] == total
    assert "error" not in run.events, run.events
    assert_flat(run)


def test_the_soak_sees_a_leak(tmp_path, monkeypatch):
    """The measurement itself: a line that keeps every frame it is given must fail the check."""
    from bench import soak_bench

    kept = []

    class LeakyLine(soak_bench.SoakLine):
        async def read_frame(self):
            frame = await super().read_frame()
            kept.append([frame])  # a list, so the gc sees it as well as RSS
            return frame

    monkeypatch.setattr(soak_bench, "SoakLine", LeakyLine)
    run = soak("flows:/demo/index.xml", WARMUP + 50, EVERY, demo_script, tmp_path)
    after = run.samples[-1]
    assert after.rss_kb - run.at(WARMUP).rss_kb > RSS_SLACK_KB
    assert after.objects - run.at(WARMUP).objects > OBJECT_SLACK
