"""Resetting the USB device behind a serial port, for a modem that stays wedged.

    >>> usb_device("/dev/ttyS0", sys_root="/nonexistent") is None
    True
"""

from __future__ import annotations

import fcntl
import os
import pathlib
import time

from .line import LineError

USBDEVFS_RESET = ord("U") << 8 | 20


def usb_device(port: str, sys_root: str = "/sys") -> pathlib.Path | None:
    """The sysfs directory of the USB device behind a tty, or None."""
    name = os.path.basename(os.path.realpath(port))
    link = pathlib.Path(sys_root, "class", "tty", name, "device")
    if not link.exists():
        return None
    path = link.resolve()
    while path != path.parent:
        if (path / "busnum").exists() and (path / "devnum").exists():
            return path
        path = path.parent
    return None


def usb_reset(port: str, sys_root: str = "/sys", dev_root: str = "/dev") -> str:
    """Reset the USB device behind ``port``: re-authorize it, else USBDEVFS_RESET.

    Returns what was done; raises LineError saying why it could not.
    """
    device = usb_device(port, sys_root)
    if device is None:
        raise LineError(f"{port} is not a USB device, so it cannot be reset")
    try:
        (device / "authorized").write_text("0")
        time.sleep(0.5)
        (device / "authorized").write_text("1")
        return f"re-authorized USB device {device.name}"
    except OSError as e:
        first = e
    bus = int((device / "busnum").read_text())
    num = int((device / "devnum").read_text())
    node = os.path.join(dev_root, "bus", "usb", f"{bus:03d}", f"{num:03d}")
    try:
        fd = os.open(node, os.O_WRONLY)
        try:
            fcntl.ioctl(fd, USBDEVFS_RESET, 0)
        finally:
            os.close(fd)
        return f"reset USB device {device.name} through {node}"
    except OSError as e:
        raise LineError(f"no permission to reset USB device {device.name} ({first.strerror}; "
                        f"{node}: {e.strerror}); run as root or add a udev rule") from None
