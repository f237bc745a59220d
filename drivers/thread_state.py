"""Python thread states kept for a C library's callback thread (PortAudio's, through PyAudio).

PyAudio enters Python from PortAudio's thread through PyGILState_Ensure,
which on a thread Python did not start makes a thread state and frees it
again on the way out, on every callback: at 35 callbacks a second, a quarter
of the callback threads' CPU in a call. One more Ensure from inside the first
callback keeps the thread state; ``free`` deletes it once the stream is
closed and its thread has ended.

``thread_states()`` counts the interpreter's thread states, for tests:

    >>> thread_states() >= 1
    True
"""

from __future__ import annotations

import ctypes

_python = ctypes.PyDLL(None)  # the C API, as ctypes.pythonapi, with signatures of its own
_python.PyThreadState_Get.restype = ctypes.c_void_p
_python.PyThreadState_Clear.argtypes = _python.PyThreadState_Delete.argtypes = [ctypes.c_void_p]
_python.PyInterpreterState_Get.restype = ctypes.c_void_p
_python.PyInterpreterState_ThreadHead.argtypes = [ctypes.c_void_p]
_python.PyInterpreterState_ThreadHead.restype = ctypes.c_void_p
_python.PyThreadState_Next.argtypes = [ctypes.c_void_p]
_python.PyThreadState_Next.restype = ctypes.c_void_p


class ThreadState:
    """The thread state of one callback thread, kept from callback to callback."""

    def __init__(self) -> None:
        self._state = None

    def keep(self) -> None:
        """Call on the callback thread, in the callback (holding the GIL)."""
        if self._state is None:
            _python.PyGILState_Ensure()
            self._state = _python.PyThreadState_Get()

    def free(self) -> None:
        """Call once the callback thread has ended (its stream closed), holding the GIL."""
        state, self._state = self._state, None
        if state is not None:
            _python.PyThreadState_Clear(state)
            _python.PyThreadState_Delete(state)


def thread_states() -> int:
    """How many thread states the interpreter holds."""
    count, state = 0, _python.PyInterpreterState_ThreadHead(_python.PyInterpreterState_Get())
    while state:
        count, state = count + 1, _python.PyThreadState_Next(state)
    return count
