"""List the serial ports, voice modems and sound cards this box can use.

Every serial port is asked ``AT``; one that answers is a modem, and is asked
who it is (ATI, AT+GMM), which classes it has (AT+FCLASS=?) and which voice
codecs (AT+VSM=?). Each line names the URL to open it by, with stable
/dev/serial/by-id names where udev made them.
"""

from __future__ import annotations

import glob
import os

from ..config import finite_number


def add_arguments(parser) -> None:
    parser.add_argument("--port", action="append", default=[], metavar="PATH",
                        help="also probe this serial device (ptys and some adapters are not listed)")
    parser.add_argument("--timeout", type=finite_number, default=0.5, metavar="SECONDS",
                        help="how long to wait for each AT answer (default 0.5)")


def main(args) -> int:
    from serial.tools import list_ports

    from drivers.modem_identify import identify

    by_id = {os.path.realpath(p): p for p in glob.glob("/dev/serial/by-id/*")}
    ports = [(p.device, p.description, p.hwid) for p in sorted(list_ports.comports(), key=lambda p: p.device)]
    listed = {device for device, _, _ in ports}
    ports += [(path, "given with --port", "") for path in args.port if path not in listed]

    print("serial ports:")
    if not ports:
        print("  none found")
    for device, description, hwid in ports:
        name = by_id.get(os.path.realpath(device), device)
        extra = f" [{hwid}]" if hwid and hwid != "n/a" else ""
        print(f"  {name}  {description}{extra}")
        for line in describe_port(identify(device, args.timeout), name):
            print(f"    {line}")

    print_sound()
    print_echo()
    return 0


def describe_port(info: dict, name: str) -> list[str]:
    if "error" in info:
        reason = info["error"]
        if "lock" in reason:
            reason = "in use by another program (a running ivrbox?)"
        return [f"cannot open: {reason}"]
    if not info["answers"]:
        return ["no answer to AT: not a modem, or a modem that is wedged"]
    out = [f"modem: {'; '.join(info['identity']) or 'no identity given'}",
           f"classes: {info['classes'] or 'unknown'}"]
    if not info["offers"]:
        out.append("voice: none (no +FCLASS=8 or no +VSM codecs)")
        return out
    out.append("voice codecs: " + "; ".join(map(str, info["offers"])))
    codec = info["codec"]
    if codec:
        out.append(f"this box would use {codec.codec} ({codec.label}): modem://{name}")
    else:
        out.append("no codec this box can use (it needs 8 kHz µ-law or 8-bit linear)")
    return out


def print_sound() -> None:
    try:
        from drivers.sounddevices import list_devices

        devices = list_devices()
    except Exception as exc:  # any failure of the audio stack is reported, not fatal
        print(f"sound: unavailable ({type(exc).__name__}: {exc})")
        return
    print("sound cards:")
    if not devices:
        print("  none found")
    for d in devices:
        rates = d.get("rates")
        takes = f", takes {','.join(map(str, rates))} Hz" if rates else ""
        print(f"  {d['name']}: {d['max_input_channels']} in, {d['max_output_channels']} out, "
              f"default {d['default_rate']} Hz{takes}")


def print_echo() -> None:
    from drivers.echo import availability

    print(f"echo canceller: {availability()}; on by default on sound://…?hook= (FXO) and modem:// "
          "lines (echo=off turns it off), off on kiosk and plain sound lines (echo=on turns it on)")
