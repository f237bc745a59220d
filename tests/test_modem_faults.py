"""A voice modem that fails: wedged, unplugged mid-call or while idle, held
by another program, not a modem at all, or reset on USB; and misuse of the
line. Real pyserial against the fake modem on a pty (fake_modem.py)."""

import asyncio
import logging
import os

import pytest

from drivers import LineError, open_line
from drivers.constants import FRAME_BYTES
from drivers.usb import usb_device, usb_reset
from fake_modem import FakeModem
from modem_calls import FAST, answered, line_for, read_pcm, run


# --- wedges and lost ports ----------------------------------------------------


def test_a_wedged_modem_is_reopened_and_answers_again(caplog):
    caplog.set_level(logging.INFO, "drivers.modem")
    with FakeModem() as fake:
        async def main():
            async with open_line(f"modem://{fake.path}?rings=1&at_timeout=0.2&keepalive=0.2") as line:
                opens = fake.opens
                fake.wedge("reopen")
                waiting = asyncio.ensure_future(line.wait_for_call())
                while fake.opens == opens:
                    await asyncio.sleep(0.05)
                while "ATZ" not in fake.commands[-6:]:
                    await asyncio.sleep(0.05)
                fake.ring(1, cid=["NMBR=5550004"], cid_before_ring=True)
                return await waiting

        info = run(main())
    assert info.caller == "5550004"
    assert "2 AT commands in a row went unanswered; reopening the port" in caplog.text
    assert "answers again after reopening the port" in caplog.text


def test_a_modem_that_stays_wedged_is_a_clear_error(caplog):
    with FakeModem() as fake:
        async def main():
            async with open_line(f"modem://{fake.path}?rings=1&at_timeout=0.2&keepalive=0.2") as line:
                fake.wedge("never")
                await line.wait_for_call()

        with pytest.raises(LineError, match=r"is wedged: no answer to AT after reopening the port, and no USB "
                                            r"reset \(.* is not a USB device"):
            run(main())
    assert "is not a USB device, so it cannot be reset" in caplog.text


def test_a_port_that_does_not_exist():
    with pytest.raises(LineError, match=r"cannot open modem /dev/ttyNOPE9: no such device \(is the modem plugged in"):
        run(open_line("modem:///dev/ttyNOPE9").open())


def test_something_that_is_not_a_modem():
    with FakeModem() as fake:
        fake.wedge("never")
        with pytest.raises(LineError, match="answers AT: is it a modem"):
            run(line_for(fake).open())


def test_unplugged_mid_call():
    fake = FakeModem()
    async def main():
        line = await answered(fake)
        await read_pcm(line, 2)
        fake.unplug()
        with pytest.raises(LineError, match=f"modem {fake.path} went away"):
            while True:
                await line.read_frame()
        with pytest.raises(LineError, match="went away"):
            await line.write_frame(bytes(FRAME_BYTES))
        await line.hangup()
        await line.close()
        await line.close()

    run(main())


def test_bad_options_and_misuse():
    with pytest.raises(LineError, match="rings='two' is not an integer"):
        open_line("modem:///dev/ttyACM0?rings=two")
    with pytest.raises(LineError, match="rings='0' must be at least 1"):
        open_line("modem:///dev/ttyACM0?rings=0")
    with pytest.raises(LineError, match="unknown modem option.*colour"):
        open_line("modem:///dev/ttyACM0?colour=red")
    with pytest.raises(LineError, match="codec='gsm' must be one of auto, ulaw, linear, slinear"):
        open_line("modem:///dev/ttyACM0?codec=gsm")
    with pytest.raises(LineError, match="needs a device path"):
        open_line("modem://")
    with FakeModem() as fake:
        async def main():
            async with line_for(fake) as line:
                with pytest.raises(LineError, match="answer\\(\\) first"):
                    await line.read_frame()
                with pytest.raises(LineError, match="answer\\(\\) first"):
                    await line.write_frame(bytes(FRAME_BYTES))
                with pytest.raises(ValueError, match="320 bytes"):
                    await line.write_frame(bytes(100))

        run(main())


# --- USB reset ----------------------------------------------------------------------


def test_usb_reset_finds_the_device_behind_a_tty_and_re_authorizes_it(tmp_path):
    device = tmp_path / "devices/pci0000:00/usb1/1-1"
    interface = device / "1-1:1.0"
    interface.mkdir(parents=True)
    for name, value in (("busnum", "1"), ("devnum", "4"), ("authorized", "1")):
        (device / name).write_text(value)
    (interface / "authorized").write_text("1")
    (tmp_path / "class/tty/ttyACM0").mkdir(parents=True)
    os.symlink(interface, tmp_path / "class/tty/ttyACM0/device")

    assert usb_device("/dev/ttyACM0", str(tmp_path)) == device
    assert usb_reset("/dev/ttyACM0", str(tmp_path)) == "re-authorized USB device 1-1"
    assert (device / "authorized").read_text() == "1"
    assert usb_device("/dev/ttyUSB7", str(tmp_path)) is None


def test_usb_reset_of_a_tty_that_is_not_usb():
    with FakeModem() as fake:
        with pytest.raises(LineError, match="is not a USB device, so it cannot be reset"):
            usb_reset(fake.path)


def test_a_port_another_program_holds():
    import serial

    with FakeModem() as fake, serial.Serial(fake.path, exclusive=True):
        with pytest.raises(LineError, match=f"cannot open modem {fake.path}: locked by another program"):
            run(line_for(fake).open())


def test_unplugged_while_idle_then_replugged_under_the_same_by_id_name(tmp_path):
    by_id = tmp_path / "usb-Conexant_USB_Modem-if00"
    first, second = FakeModem(), FakeModem("cx93001")
    os.symlink(first.path, by_id)

    async def main():
        line = open_line(f"modem://{by_id}?{FAST}&rings=1")
        await line.open()
        waiting = asyncio.ensure_future(line.wait_for_call())
        await asyncio.sleep(0.1)
        first.unplug()
        with pytest.raises(LineError, match="went away"):
            await waiting
        await line.close()
        os.remove(by_id)
        os.symlink(second.path, by_id)
        await line.open()
        second.ring(1, cid=["NMBR=5550005"], cid_before_ring=True)
        info = await line.wait_for_call()
        await line.close()
        return line, info

    try:
        line, info = run(main())
    finally:
        second.close()
    assert info.caller == "5550005"
    assert line.offer.codec == "linear"
