"""The ``ivrbox`` command. Each subcommand is a module in firmware_app.commands
with ``add_arguments(parser)`` and ``main(args) -> int``; modules import their
heavy dependencies inside ``main`` so ``ivrbox --help`` stays fast."""

from __future__ import annotations

import argparse
import importlib
import os
import ssl
import sys

import firmware_app

COMMANDS = ["run", "simulate", "lint", "dtmf", "devices", "cache", "outbox", "recordings", "console"]


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser of every subcommand, or of ONLY when it names one: a command
    run imports its own module and no other (``ivrbox --help`` imports them all).

    >>> build_parser("lint").parse_args(["lint", "flows:/demo.xml"]).command
    'lint'
    """
    parser = argparse.ArgumentParser(prog="ivrbox", description=firmware_app.__doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in [only] if only in COMMANDS else COMMANDS:
        module = importlib.import_module(f"firmware_app.commands.{name}")
        summary = (module.__doc__ or name).strip().splitlines()[0]
        p = sub.add_parser(name, help=summary, description=module.__doc__)
        module.add_arguments(p)
        p.set_defaults(func=module.main)
    return parser


def hashed_cas(directory: str | None) -> bool:
    """Whether DIRECTORY is an OpenSSL CA directory: certificates named by subject hash.

    >>> import tempfile, pathlib
    >>> with tempfile.TemporaryDirectory() as d:
    ...     before = hashed_cas(d)
    ...     (pathlib.Path(d) / "3513523f.0").touch()
    ...     before, hashed_cas(d), hashed_cas(d + "/missing")
    (False, True, False)
    """
    try:
        with os.scandir(directory or "") as entries:
            return any(len(e.name) > 9 and e.name[8] == "." and e.name[9:].isdigit()
                       and all(c in "0123456789abcdef" for c in e.name[:8]) for e in entries)
    except OSError:
        return False


def read_cas_when_needed(environ=os.environ, paths=None) -> bool:
    """Have OpenSSL read CA certificates from the system's hashed directory,
    one when a server's chain needs it, rather than parse the whole bundle.

    aiohttp builds two TLS contexts as it is imported, and each parses the CA
    bundle: 40 ms here, several tenths of a second on a Pi Zero 2 W, at every
    start, though most boxes fetch plain http. Debian's ca-certificates keeps
    the same CAs in the bundle and, hashed, in /etc/ssl/certs, so verification
    is unchanged. A bundle or directory other than the system's is left alone.
    True when the bundle is set aside (SSL_CERT_FILE=/dev/null).

    >>> import tempfile, pathlib, types
    >>> with tempfile.TemporaryDirectory() as d:
    ...     bundle = pathlib.Path(d) / "ca-certificates.crt"
    ...     paths = types.SimpleNamespace(openssl_cafile_env="SSL_CERT_FILE", openssl_cafile=str(bundle),
    ...                                   openssl_capath_env="SSL_CERT_DIR", openssl_capath=d)
    ...     unhashed = read_cas_when_needed({}, paths)
    ...     (pathlib.Path(d) / "3513523f.0").touch()
    ...     own = [{"SSL_CERT_FILE": "/etc/corp-ca.pem"}, {"SSL_CERT_DIR": "/etc/corp-cas"}, {"SSL_CERT_DIR": ""}]
    ...     system = {"SSL_CERT_FILE": str(bundle), "SSL_CERT_DIR": d}
    ...     unhashed, [read_cas_when_needed(e, paths) for e in own], read_cas_when_needed(system, paths)
    (False, [False, False, False], True)
    >>> system["SSL_CERT_FILE"]
    '/dev/null'
    """
    paths = paths or ssl.get_default_verify_paths()
    for key, default in ((paths.openssl_cafile_env, paths.openssl_cafile),
                         (paths.openssl_capath_env, paths.openssl_capath)):
        if key in environ and os.path.realpath(environ[key]) != os.path.realpath(default):
            return False  # the user's own (an empty one means none, to OpenSSL)
    if hashed_cas(paths.openssl_capath):
        environ[paths.openssl_cafile_env] = os.devnull
        return True
    return False


def main(argv: list[str] | None = None) -> int:
    # numpy's OpenBLAS starts a thread (with its buffers) per core at import, for
    # products far larger than the box's 20 ms frames: one thread saves ~10 MB.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    read_cas_when_needed()
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(argv[0] if argv else None).parse_args(argv)
    try:
        return args.func(args) or 0
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
