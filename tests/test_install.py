"""A non-editable install (what `make install` puts in /opt) carries the bundled flows and data files."""

import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_a_wheel_install_finds_its_flows_and_data(tmp_path):
    target = tmp_path / "venv"
    venv.create(target, with_pip=True, system_site_packages=True)
    py = target / "bin" / "python"
    subprocess.run([py, "-m", "pip", "install", "-q", "--no-deps", str(ROOT)],
                   check=True, capture_output=True, timeout=300)
    probe = ("import firmware_app.web.bundled as b, firmware_app.listen as l, pathlib;"
             "print(b.FLOWS_DIR); print(b.BundledFlows().find('/demo/menu', {'Digits': '3'}));"
             "print((pathlib.Path(l.__file__).parent / 'profanity.txt').is_file())")
    out = subprocess.run([py, "-c", probe], cwd=tmp_path, capture_output=True, text=True, check=True,
                         env={"PATH": "/usr/bin:/bin"}).stdout.split()
    assert out[0] == str(target / "share" / "ivrbox" / "flows")
    assert out[1] == str(target / "share" / "ivrbox" / "flows" / "demo" / "menu" / "3.xml")
    assert out[2] == "True"
    assert sys.prefix != str(target)
