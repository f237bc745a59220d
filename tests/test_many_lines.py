"""Several simulated lines in one `ivrbox run` process: each runs its calls to the end.

Simulated lines run on virtual clocks that settle between frames; with more
than one in a process they used to wait on each other forever."""

import re
import subprocess

from simulate import IVRBOX


def test_four_simulated_lines_in_one_process_each_run_their_calls_to_the_end(server, tmp_path):
    server.routes["/ivr"] = ('<Response><Say>Welcome</Say><Pause length="2"/>'
                             '<Gather numDigits="1" timeout="1"><Say>Press a key</Say></Gather>'
                             '<Say>Goodbye</Say></Response>')
    config = tmp_path / "c.toml"
    config.write_text(f'[server]\nurl = "{server.url("/ivr")}"\n[line]\nurl = ["sim:", "sim:", "sim:", "sim:"]\n')
    proc = subprocess.run([IVRBOX, "run", "--config", str(config), "--calls", "8"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    calls: dict[str, list[str]] = {}
    for line in proc.stderr.splitlines():
        m = re.match(r"INFO ivrbox\.call: (CA\w+) +([\d.]+)s (\w+)", line)
        if m:
            calls.setdefault(m[1], []).append(m[3])
    assert len(calls) == 8, proc.stderr
    for sid, events in calls.items():
        assert events == ["request", "say", "pause", "say", "gather", "say", "hangup"], (sid, events)
    ends = re.findall(r"(CA\w+) +([\d.]+)s hangup by=box", proc.stderr)
    assert len(ends) == 8 and all(float(t) > 3.0 for _, t in ends)
