"""libspeexdsp through ctypes: the echo canceller's C library, found once.

It stands apart from ``drivers.echo`` (which needs numpy) so a line can
check at start-up that the library is there, and build its canceller only
when a call is answered.

    >>> library().speex_echo_state_init.restype is ctypes.c_void_p
    True
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

from .line import LineError


class EchoCancellerError(LineError):
    """libspeexdsp is missing or refused the settings."""


@functools.cache
def library() -> ctypes.CDLL:
    """The loaded library, with the echo canceller's signatures; EchoCancellerError when missing."""
    name = ctypes.util.find_library("speexdsp") or "libspeexdsp.so.1"
    try:
        lib = ctypes.CDLL(name)
    except OSError:
        raise EchoCancellerError("the echo canceller needs libspeexdsp (Debian: libspeexdsp1)") from None
    lib.speex_echo_state_init.restype = ctypes.c_void_p
    lib.speex_echo_state_init.argtypes = [ctypes.c_int, ctypes.c_int]
    lib.speex_echo_state_destroy.argtypes = [ctypes.c_void_p]
    lib.speex_echo_state_reset.argtypes = [ctypes.c_void_p]
    lib.speex_echo_ctl.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p]
    lib.speex_echo_cancellation.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_void_p]
    return lib
