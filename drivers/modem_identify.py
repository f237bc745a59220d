"""What is on a serial port, for ``ivrbox devices``: does it answer AT, who
it says it is, its classes and voice codecs, and the codec a modem line
there would use."""

from __future__ import annotations

import asyncio

from .at import ATChannel, ATTimeout, PortError
from .line import LineError
from .modem_protocol import choose_codec, parse_vsm


def identify(port: str, timeout: float = 1.0) -> dict:
    """Ask what is on a serial port, for ``ivrbox devices`` (runs its own event loop).

    Returns a dict with ``answers`` (True if it answered AT), ``identity``
    (ATI and AT+GMM lines), ``classes`` (AT+FCLASS=?), ``offers`` (VsmOffer
    list) and ``codec`` (the offer this line would use, or None), or
    ``error`` when the port cannot be opened.
    """
    return asyncio.run(_identify(port, timeout))


async def _identify(port: str, timeout: float) -> dict:
    info: dict = {"port": port, "answers": False, "identity": [], "classes": "", "offers": [], "codec": None}
    channel = ATChannel(port, at_timeout=timeout)

    async def ask(cmd: str) -> tuple[str, list[str]]:
        try:
            return await channel.ask(cmd)
        except ATTimeout:
            return "", []

    try:
        await channel.open()
        if not await channel.alive():
            return info
        info["answers"] = True
        for cmd in ("ATI", "AT+GMM"):
            result, body = await ask(cmd)
            info["identity"] += body if result == "OK" else []
        result, body = await ask("AT+FCLASS=?")
        info["classes"] = ",".join(body) if result == "OK" else ""
        if "8" in info["classes"].replace("(", ",").replace(")", ",").split(","):
            await ask("AT+FCLASS=8")
            result, body = await ask("AT+VSM=?")
            await ask("AT+FCLASS=0")
            info["offers"] = parse_vsm(body) if result == "OK" else []
            try:
                info["codec"] = choose_codec(info["offers"])
            except ValueError:
                pass
    except PortError as e:
        info["error"] = e.reason
    except LineError as e:  # the port went away while it was being asked
        info["error"] = str(e)
    finally:
        await channel.close()
    return info
