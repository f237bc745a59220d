"""HTTPS when the box reads CA certificates only as a server's chain needs them.

``ivrbox`` sets the CA bundle aside when the system keeps the same CAs in a
hashed directory (cli.read_cas_when_needed, whose examples cover when it
does). These runs show what that relies on: with no bundle, OpenSSL finds a
server's CA in the hashed directory, and still refuses a CA that is not
there.
"""

import json
import os
import ssl
import subprocess
import sys

import pytest
import trustme

from bench.twiml_server import TwimlServer
from simulate import IVRBOX, of


@pytest.fixture
def trusted(tmp_path):
    """A CA, alone in an OpenSSL hashed directory."""
    ca = trustme.CA()
    cas = tmp_path / "cas"
    cas.mkdir()
    ca.cert_pem.write_to_path(str(cas / "ca.pem"))
    digest = subprocess.run(["openssl", "x509", "-subject_hash", "-noout", "-in", str(cas / "ca.pem")],
                            capture_output=True, text=True, check=True).stdout.strip()
    (cas / f"{digest}.0").symlink_to("ca.pem")
    return ca, cas


def simulate_https(signer: trustme.CA, cas) -> tuple[list[str], int, str]:
    """``ivrbox simulate`` of a <Hangup/> served over TLS with SIGNER's certificate,
    the CAs in CAS and no bundle: its output, the requests served, its stderr."""
    with TwimlServer({"/start": "<Response><Hangup/></Response>"}) as server:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        signer.issue_cert("127.0.0.1").configure_cert(context)
        server.httpd.socket = context.wrap_socket(server.httpd.socket, server_side=True)
        env = dict(os.environ, SSL_CERT_FILE=os.devnull, SSL_CERT_DIR=str(cas))
        run = subprocess.run([IVRBOX, "simulate", f"https://127.0.0.1:{server.port}/start"], env=env,
                             capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    return run.stdout, len(server.requests), run.stderr


def test_a_server_whose_ca_is_in_the_hashed_directory_is_verified_with_no_bundle(trusted):
    ca, cas = trusted
    events, served, stderr = simulate_https(ca, cas)
    assert served == 1 and '"event": "hangup", "by": "box"' in events and '"error"' not in events
    assert "Traceback" not in stderr


def test_a_server_whose_ca_is_not_there_is_refused_with_twilios_tls_error(trusted):
    _, cas = trusted
    events, served, stderr = simulate_https(trustme.CA(), cas)
    assert served == 0
    errors = of([json.loads(line) for line in events.splitlines()], "error")
    assert errors[0]["code"] == 11220 and "CERTIFICATE_VERIFY_FAILED" in errors[0]["message"], errors
    assert "Traceback" not in stderr


PROBE = ("import contextlib, os, sys\nfrom firmware_app.cli import main\n"
         "with contextlib.suppress(SystemExit):\n    main(['--help'])\n"
         "print(os.environ.get('SSL_CERT_FILE'), file=sys.stderr)")


def test_ivrbox_sets_the_systems_bundle_aside_and_leaves_a_directory_of_ones_own_alone(trusted):
    """Debian keeps its CAs hashed in /etc/ssl/certs, as this machine does."""
    _, cas = trusted
    clean = {k: v for k, v in os.environ.items() if k not in ("SSL_CERT_FILE", "SSL_CERT_DIR")}
    seen = [subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True,
                           timeout=30).stderr.split()[-1]
            for env in (clean, {**clean, "SSL_CERT_DIR": str(cas)}, {**clean, "SSL_CERT_DIR": ""})]
    assert seen == [os.devnull, "None", "None"]
