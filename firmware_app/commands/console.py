"""The web console's password: ivrbox console passwd [--config PATH] [--print].

Asks for a new password twice (or reads one line from standard input when
it is not a terminal), and writes its scrypt hash as ``[console]
password_hash`` into the config file, keeping the rest of the file as it
is. ``--print`` only prints the line to paste. A running box reads it
after ``reload_config`` or a restart.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
from pathlib import Path

MIN_LENGTH = 8


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=("passwd",))
    p.add_argument("--config", help="the config file to write (default: /etc/ivrbox/config.toml)")
    p.add_argument("--print", action="store_true", help="print the password_hash line instead of writing it")


def read_password() -> str:
    import getpass

    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("new console password: ")
    if getpass.getpass("again: ") != first:
        raise ValueError("the two passwords differ")
    return first


def set_key(text: str, section: str, key: str, value: str) -> str:
    """TEXT with ``KEY = "VALUE"`` in [SECTION], replacing the key's line or adding it.

    >>> set_key('[server]\\nurl = "x"\\n', "console", "password_hash", "h")
    '[server]\\nurl = "x"\\n\\n[console]\\npassword_hash = "h"\\n'
    >>> set_key('[console]\\npassword_hash = "old"\\nkeep_days = 3\\n', "console", "password_hash", "new")
    '[console]\\npassword_hash = "new"\\nkeep_days = 3\\n'
    """
    line = f'{key} = "{value}"'
    lines = text.splitlines(keepends=True)
    header = re.compile(rf"^\s*\[\s*{re.escape(section)}\s*\]\s*(#.*)?$")
    start = next((i for i, each in enumerate(lines) if header.match(each)), None)
    if start is None:
        return text + ("" if text.endswith("\n") or not text else "\n") + ("\n" if text else "") + \
            f"[{section}]\n{line}\n"
    end = next((i for i in range(start + 1, len(lines)) if lines[i].lstrip().startswith("[")), len(lines))
    for i in range(start + 1, end):
        if re.match(rf"^\s*{re.escape(key)}\s*=", lines[i]):
            lines[i] = line + "\n"
            return "".join(lines)
    lines.insert(start + 1, line + "\n")
    return "".join(lines)


def main(args: argparse.Namespace) -> int:
    from ..config import SYSTEM_PATH, ConfigError, load
    from ..console.auth import hash_password

    try:
        password = read_password()
    except (ValueError, EOFError) as e:
        print(f"ivrbox console passwd: {e or 'no password given'}", file=sys.stderr)
        return 2
    if len(password) < MIN_LENGTH:
        print(f"ivrbox console passwd: a password needs at least {MIN_LENGTH} characters", file=sys.stderr)
        return 2
    stored = hash_password(password)
    if args.print:
        print(f'[console]\npassword_hash = "{stored}"')
        return 0
    path = Path(args.config) if args.config else SYSTEM_PATH
    try:
        text = path.read_text(encoding="utf-8") if path.exists() else ""
        fresh = set_key(text, "console", "password_hash", stored)
        with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, encoding="utf-8") as tmp:
            tmp.write(fresh)
        if path.exists():
            os.chmod(tmp.name, path.stat().st_mode & 0o777)
        load(tmp.name)      # never leave a file the box cannot read
        os.replace(tmp.name, path)
    except (OSError, ConfigError) as e:
        if "tmp" in locals():
            Path(tmp.name).unlink(missing_ok=True)
        print(f"ivrbox console passwd: cannot write {path}: {e}", file=sys.stderr)
        return 1
    print(f"console password set in {path}; restart the box (or reload its config) to use it")
    return 0
