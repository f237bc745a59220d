"""Sound devices through PortAudio: listed, found by name, probed for rates.

A card is picked by a substring of its PortAudio name, never by index (card
numbers move between Pi models and boots). ``list_devices()`` is what
``ivrbox devices`` prints; ``find_device`` and ``pick_rate`` choose what
``SoundCard`` (soundcard.py) opens.
"""

from __future__ import annotations

import ctypes
import ctypes.util

import pyaudio

from .line import LineError

#: Rates offered by ``list_devices``, and the order ``pick_rate`` tries.
PROBE_RATES = (8000, 16000, 44100, 48000)
PREFERRED_RATES = (8000, 16000, 48000, 44100, 32000, 22050, 96000)


_quiet = []


def _silence_native_logs() -> None:
    """Stop ALSA and JACK printing their probing chatter on every PortAudio start.

    Each re-probe of an unplugged card starts PortAudio again, and without
    this every start writes dozens of lines to the journal.
    """
    if _quiet:
        return
    alsa_handler = ctypes.CFUNCTYPE(None, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                                    ctypes.c_int, ctypes.c_char_p)(lambda *a: None)
    jack_handler = ctypes.CFUNCTYPE(None, ctypes.c_char_p)(lambda *a: None)
    _quiet.extend((alsa_handler, jack_handler))  # keep the callbacks alive
    for lib, setters, handler in (("asound", ["snd_lib_error_set_handler"], alsa_handler),
                                  ("jack", ["jack_set_error_function", "jack_set_info_function"],
                                   jack_handler)):
        path = ctypes.util.find_library(lib)
        if path:
            dll = ctypes.CDLL(path)
            for setter in setters:
                getattr(dll, setter)(handler)


def portaudio() -> pyaudio.PyAudio:
    """A fresh PortAudio instance: devices are enumerated only when it starts."""
    _silence_native_logs()
    return pyaudio.PyAudio()


def supported_rates(pa: pyaudio.PyAudio, info: dict, rates=PROBE_RATES) -> list[int]:
    kind = "input" if info["maxInputChannels"] else "output"
    supported = []
    for rate in rates:
        try:
            if pa.is_format_supported(rate, **{f"{kind}_device": info["index"],
                                               f"{kind}_channels": 1,
                                               f"{kind}_format": pyaudio.paInt16}):
                supported.append(rate)
        except ValueError:
            pass
    return supported


def list_devices() -> list[dict]:
    """Every sound device PortAudio sees, with what it can do.

    Each dict has name, index, max_input_channels, max_output_channels,
    default_rate and rates (those of 8000, 16000, 44100 and 48000 that the
    device takes for 16-bit mono). Indexes are for display only: they
    change when cards come and go.
    """
    pa = portaudio()
    try:
        devices = []
        for i in range(pa.get_device_count()):
            info = pa.get_device_info_by_index(i)
            devices.append({
                "name": info["name"],
                "index": info["index"],
                "max_input_channels": int(info["maxInputChannels"]),
                "max_output_channels": int(info["maxOutputChannels"]),
                "default_rate": int(info["defaultSampleRate"]),
                "rates": supported_rates(pa, info),
            })
        return devices
    finally:
        pa.terminate()


def find_device(pa: pyaudio.PyAudio, name: str | None, need_input: bool, need_output: bool) -> dict:
    """The first device whose name contains ``name`` (any case) and has the
    channels asked for; the default device when ``name`` is empty."""
    infos = [pa.get_device_info_by_index(i) for i in range(pa.get_device_count())]
    fits = [d for d in infos
            if (not need_input or d["maxInputChannels"] > 0)
            and (not need_output or d["maxOutputChannels"] > 0)]
    if name:
        fits = [d for d in fits if name.lower() in d["name"].lower()]
    else:
        try:
            default = (pa.get_default_output_device_info() if need_output
                       else pa.get_default_input_device_info())
            fits = [d for d in fits if d["index"] == default["index"]] or fits
        except OSError:
            pass
    if fits:
        return fits[0]
    wanted = " and ".join(w for w, on in (("input", need_input), ("output", need_output)) if on)
    seen = "; ".join(f"{d['name']!r} (in {d['maxInputChannels']}, out {d['maxOutputChannels']})"
                     for d in infos) or "none"
    label = repr(name) if name else "the default device"
    raise LineError(f"no sound device matching {label} with {wanted}; devices seen: {seen}")


def check_device(name: str | None) -> None:
    """Raise LineError unless a full-duplex device matching ``name`` is there."""
    pa = portaudio()
    try:
        find_device(pa, name, True, True)
    finally:
        pa.terminate()


def pick_rate(supported, default_rate: int) -> int:
    """The device rate to run at: 8 kHz when the card takes it, else the
    cheapest rate it does take, else its own default.

    >>> pick_rate([44100, 48000], 44100)
    48000
    >>> pick_rate([], 44100)
    44100
    """
    for rate in PREFERRED_RATES:
        if rate in supported:
            return rate
    return int(default_rate)
