"""A line echo canceller for 2-wire lines: speexdsp's, through ctypes.

On an FXO board or a voice modem in full duplex the box hears its own
prompts come back through the hybrid, 6-20 dB down and 2-30 ms late (plus
the sound card's own round trip). The canceller learns that echo path from
what the box sends and subtracts its estimate from what the line hears, so
DTMF, voice activity and speech see the caller alone.

The adaptive filter is speexdsp's multi-delay block frequency-domain filter
(MDF, Debian ``libspeexdsp1``), whose learning rate follows its own estimate
of the residual echo: double talk slows adaption instead of wrecking the
filter, and a changed echo path is learnt again in a few seconds. It needs
two to five seconds of prompt to pass 25 dB of echo return loss
enhancement (ERLE), and then holds 40-50 dB.

A non-linear processor (NLP, as in G.168) mutes a frame heard while the
box speaks when it is no louder than the echo could still be: the far
end's level over the tail, less the hybrid's least return loss (6 dB) and
the best ERLE reached so far, capped at 20 dB (and at 9 dB until it
reaches 20: a running ERLE is an average, and on a sound the filter has not
met it may take almost nothing off). While the filter learns, that keeps
the early echo of ``<Play digits>`` from coming through as keys
and of a prompt from sounding like a caller; once it has converged, it
mutes only what is 23 dB or more under the box's own voice, which is the
residue the filter leaves (webrtcvad takes even a -60 dBm0 residue of
speech for speech, so a muted frame is silence). A caller talking over a
prompt is louder than that and passes whole. After a change of echo path
the filter alone learns it again. speexdsp's own residual echo suppressor
is left out: it works only with its noise suppressor on, and adds 20 ms.

A card that misses its deadline on a loaded machine plays silence that
nobody counts (an underrun), and the echo comes back a little later than
the filter has learnt: the filter then takes off an echo that is not there
(``drivers.echo_watch`` tells that from a caller under the echo) or even
makes what the line heard louder, which a caller talking over the prompt
cannot make it do. Such a frame goes on as heard, through an NLP that
counts on nothing taken off it; and once the filter has done that two
frames running (or made one 2 dB louder), the NLP trusts it only as it
cancels again, and looks for the echo anywhere the delay could have moved it.

The line calls ``playback`` with every frame it sends (and with silence
for each frame its card played for want of one), ``capture`` with every
frame it hears (and with its running count of frames heard but dropped
unread, its reader having fallen behind). Frames are counted in each direction, and heard frame ``n``
is cancelled against sent frame ``n - lag``: so the pairing does not depend
on how reads and writes interleave, and only a real change of the echo
path moves it. Keep one canceller per line for the line's life, and call
``restart`` when the line's streams start again: a line's echo path hardly
changes from call to call, so later calls start converged.

    >>> ec = EchoCanceller(tail_ms=64)
    >>> ec.playback(bytes(320))                # what the box sends
    >>> heard = ec.capture(bytes(320))         # what the line hears, echo removed
    >>> len(heard), ec.state.converged
    (320, False)
"""

from __future__ import annotations

import collections
import ctypes
import logging
import math
from dataclasses import dataclass

import numpy as np

from .echo_delay import MAX_LAG, DelayEstimator
from .echo_watch import PathWatch
from .line import Heard
from .constants import DBM0_PEAK, FRAME_BYTES, FRAME_SAMPLES, RATE, SILENCE
from .speexdsp import EchoCancellerError, library
from .options import echo_wanted

log = logging.getLogger(__name__)

SPEEX_ECHO_SET_SAMPLING_RATE = 24

FAR_ACTIVE_DBM0 = -45.0  # the far end counts as speaking at this level or above
RETURN_LOSS_MIN_DB = 6.0  # a hybrid returns at most this loud an echo
NLP_MARGIN_DB = 3.0
ERLE_SMOOTHING = 0.05  # per frame of far-end single talk: about a second of it
CONVERGED_DB = 25.0
NLP_TRUST_DB = 20.0  # the most ERLE the NLP counts on: on a new sound the filter may leave a residue only 10 dB down
RESIDUE_DB = 12.0  # the least the filter takes off an echo it has learnt, even on a new sound
RESIDUE_LEARNING_DB = 9.0  # the same while it learns
LEARNING_TRUST_DB = 9.0  # ... and the most while it learns
# A caller talking over the echo may make the filter's output up to about 1 dB louder than
# its input, in a frame or so: a filter that has lost the path does more, and for longer.
WORSE_DB = 1.0  # the filter made two frames running this much louder: it has lost the path
WORSE_ONCE_DB = 2.0  # ... or one frame this much
AS_HEARD_DB = 1.5  # a frame it made this much louder goes on as heard
NLP_ONSET_DB = 6.0  # a frame less than this over the NLP's bound passes only if the one before was over it too
MAX_QUEUED = 2 * MAX_LAG + 2  # frames sent kept to be matched with their echo; older ones are dropped


@dataclass
class EchoState:
    """What to log: ``erle_db`` is the linear filter's echo return loss
    enhancement over about the last second in which only the box spoke
    (``None`` before any), ``muted`` the frames the NLP has muted,
    ``delay_ms`` the bulk delay before the tail, ``moves`` how often the
    canceller followed the echo to a new one, and ``lost`` how often the
    filter lost the path it had learnt (an underrun)."""

    tail_ms: int
    delay_ms: int = 0
    moves: int = 0
    frames: int = 0
    muted: int = 0
    lost: int = 0
    erle_db: float | None = None

    @property
    def converged(self) -> bool:
        return self.erle_db is not None and self.erle_db >= CONVERGED_DB

    def __str__(self) -> str:
        erle = "-" if self.erle_db is None else f"{self.erle_db:.1f} dB"
        return (
            f"echo canceller: delay {self.delay_ms} ms (moved {self.moves}x), tail {self.tail_ms} ms, ERLE {erle}, "
            f"{'converged' if self.converged else 'learning'}, {self.muted} of {self.frames} frames muted, "
            f"lost the path {self.lost}x"
        )


class EchoCanceller:
    """speexdsp's echo canceller and an NLP on 20 ms frames of 8 kHz s16le audio.

    ``tail_ms`` must cover the echo path: the hybrid's delay and
    dispersion plus the device's round trip. ``delay_ms`` (whole frames)
    is a bulk delay before the tail, the device's round trip when it is
    known, so that the tail need cover only the hybrid. The canceller finds
    the delay itself (``drivers.echo_delay``) and moves the tail to the echo
    when it lies outside, learning the path again. ``nlp=False`` leaves the
    linear filter alone.
    """

    _echo = None

    def __init__(self, tail_ms: int = 128, delay_ms: int = 0, nlp: bool = True):
        if not 20 <= tail_ms <= 1000:
            raise EchoCancellerError(f"echo canceller tail {tail_ms} ms must be within 20-1000 ms")
        if not 0 <= delay_ms <= MAX_LAG * 20:
            raise EchoCancellerError(f"echo canceller delay {delay_ms} ms must be within 0-{MAX_LAG * 20} ms")
        lib = self._lib = library()
        self._lag = 1 + round(delay_ms / 20)  # heard frame n is cancelled against sent frame n - lag
        self.state = EchoState(tail_ms, delay_ms=(self._lag - 1) * 20)
        self._finder = DelayEstimator()
        self._sent: collections.deque[bytes] = collections.deque(maxlen=MAX_QUEUED)
        self._sent_count = self._heard_count = 0
        self._history_powers: collections.deque[float] = collections.deque(maxlen=MAX_LAG)
        self._nlp = nlp
        self._learnt = 0.0
        self._over = False
        self._echo = lib.speex_echo_state_init(FRAME_SAMPLES, tail_ms * RATE // 1000)
        if not self._echo:
            raise EchoCancellerError("libspeexdsp could not make an echo canceller")
        rate = ctypes.c_int(RATE)
        lib.speex_echo_ctl(self._echo, SPEEX_ECHO_SET_SAMPLING_RATE, ctypes.byref(rate))
        # far-end frame powers over the tail, and the frame being cancelled
        self._far_powers = collections.deque([0.0] * (math.ceil(tail_ms / 20) + 1), maxlen=math.ceil(tail_ms / 20) + 1)
        self._out = ctypes.create_string_buffer(FRAME_BYTES)
        self._far_active = (DBM0_PEAK * 10 ** (FAR_ACTIVE_DBM0 / 20)) ** 2 / 2 * FRAME_SAMPLES
        self._power_in = self._power_out = 0.0
        self._since_in = self._since_out = 0.0  # the same since the NLP last stopped trusting the filter
        self._worse = 0  # frames running that the filter made louder
        # the filter has cancelled the echo where its tail is, so the echo lies there; and the
        # NLP trusts it, and watches for it losing the path, from then until it loses it
        self._placed = False
        self._dropped = 0  # the line's count of heard frames dropped unread, so far
        self._watch = PathWatch(active=self._far_active)

    def playback(self, frame: bytes) -> None:
        """A frame the box sends to the line."""
        if len(frame) != FRAME_BYTES:
            raise ValueError(f"a frame is {FRAME_BYTES} bytes, got {len(frame)}")
        frame = bytes(frame)
        self._sent.append(frame)
        self._sent_count += 1
        x = np.frombuffer(frame, "<i2").astype(np.float32)
        power = float(x.dot(x))
        self._finder.sent(power)
        self._history_powers.append(power)

    def unplay(self, frames: int) -> None:
        """The last ``frames`` sent were dropped by the line before they
        played: forget them, so the frames sent next meet their echo."""
        frames = min(frames, len(self._sent))
        for _ in range(frames):
            self._sent.pop()
            if self._history_powers:
                self._history_powers.pop()
        self._sent_count -= frames
        self._finder.unsent(frames)

    def capture(self, frame: bytes, dropped: int = 0) -> bytes:
        """A frame the line hears; returns it with the box's echo taken out.
        ``dropped`` is how many heard frames the line has dropped unread so far
        (counted from ``restart``'s): they are counted too, so that the frames
        after them still meet their echo."""
        if len(frame) != FRAME_BYTES:
            raise ValueError(f"a frame is {FRAME_BYTES} bytes, got {len(frame)}")
        if self._echo is None:
            raise EchoCancellerError("the echo canceller is closed")
        if dropped > self._dropped:
            self._skip(dropped - self._dropped)
            self._dropped = dropped
        far = self._far_frame(self._heard_count - self._lag)
        self._heard_count += 1
        heard = bytes(frame)
        out = self._out
        self._lib.speex_echo_cancellation(self._echo, heard, far, out)
        self.state.frames += 1
        d = np.frombuffer(heard, "<i2").astype(np.float32)
        heard_power = float(d.dot(d))
        lag = self._finder.heard(heard_power)
        # this frame was cancelled before a move reset the filter: it tells nothing of the reset one
        moved = lag is not None and self._follow(lag)
        x = np.frombuffer(far, "<i2").astype(np.float32)
        self._far_powers.append(float(x.dot(x)))
        far_power = max(self._far_powers)
        if not self._placed and self._history_powers:
            # Until the filter has cancelled the echo, it may lie anywhere the delay can move it to.
            far_power = max(far_power, max(self._history_powers))
        if far_power < self._far_active:
            self._over = False
            self._watch.reset()
            return out.raw
        e = np.frombuffer(out, "<i2").astype(np.float32)
        clean_power = float(e.dot(e))
        echo_max = far_power * 10 ** (-RETURN_LOSS_MIN_DB / 10)
        if heard_power <= echo_max and not moved:  # no louder than an echo: the box alone is talking
            self._power_in += ERLE_SMOOTHING * (heard_power - self._power_in)
            self._power_out += ERLE_SMOOTHING * (clean_power - self._power_out)
            self.state.erle_db = 10 * math.log10(max(self._power_in, 1.0) / max(self._power_out, 1.0))
            self._since_in += ERLE_SMOOTHING * (heard_power - self._since_in)
            self._since_out += ERLE_SMOOTHING * (clean_power - self._since_out)
        if not self._nlp:
            return out.raw
        astray = self._placed and self._watch.astray(d, e, heard_power, clean_power, echo_max)
        if self._placed and self._lost(heard_power, clean_power, echo_max, astray):
            self._distrust()
        # The best ERLE since the NLP last stopped trusting the filter, up to 20 dB: a
        # caller under the echo level drags the running estimate down, but not the filter.
        since = 10 * math.log10(max(self._since_in, 1.0) / max(self._since_out, 1.0))
        self._learnt = min(max(self._learnt, since), NLP_TRUST_DB)
        self._placed = self._placed or self._learnt >= NLP_TRUST_DB
        least = RESIDUE_DB if self._learnt >= NLP_TRUST_DB else RESIDUE_LEARNING_DB
        residue = heard_power <= echo_max and clean_power <= heard_power * 10 ** (-least / 10)
        # While it learns, its ERLE is an average: on a sound it has not met it may take
        # almost nothing off, so the NLP counts on no more than half of what it must learn.
        learning = self._learnt < NLP_TRUST_DB
        trust = min(self._learnt, LEARNING_TRUST_DB) if learning else self._learnt
        cleaned = out.raw
        if astray or clean_power > heard_power * 10 ** (AS_HEARD_DB / 10):  # and the NLP counts on nothing taken off
            cleaned, clean_power, trust = heard, heard_power, 0.0
        bound = echo_max * 10 ** ((NLP_MARGIN_DB - trust) / 10)
        # A lone frame of residue just over the bound is enough for webrtcvad, whose own
        # hangover makes speech of it: near-end speech that is not clearly louder must last.
        over, before = not residue and clean_power > bound, self._over
        self._over = over
        # and the filter must have taken little off it: the caller, not a residue of echo
        # (until it has learnt the path it takes nothing off, and that tells nothing)
        mostly_echo = (not before or learning
                       or clean_power <= heard_power * 10 ** (-NLP_ONSET_DB / 10))
        if not over or (clean_power <= bound * 10 ** (NLP_ONSET_DB / 10) and mostly_echo):
            self.state.muted += 1
            return Heard(SILENCE, out.raw)
        return Heard(cleaned, out.raw)

    def _skip(self, frames: int) -> None:
        for _ in range(frames):
            x = np.frombuffer(self._far_frame(self._heard_count - self._lag), "<i2").astype(np.float32)
            self._far_powers.append(float(x.dot(x)))
            self._heard_count += 1
            self._finder.heard(0.0)
            self._watch.reset()

    def _far_frame(self, count: int) -> bytes:
        """Sent frame number ``count``, or silence if it is not (or no longer) kept."""
        index = count - (self._sent_count - len(self._sent))
        return self._sent[index] if 0 <= index < len(self._sent) else SILENCE

    def _lost(self, heard_power: float, clean_power: float, echo_max: float, astray: bool) -> bool:
        """Whether the filter has lost the echo path it had learnt: the card played
        silence nobody counted (an underrun), or the echo moved by less than a frame.
        It then takes off an echo that is not there (``astray``), or makes what the
        line heard louder, while only the box talks. A caller talking under the echo
        cannot make it do that for long: it takes the echo off, and what is left is
        the caller."""
        if heard_power > echo_max or max(heard_power, clean_power) < self._far_active:
            return False
        self._worse = self._worse + 1 if astray or clean_power > heard_power * 10 ** (WORSE_DB / 10) else 0
        return self._worse >= 2 or clean_power > heard_power * 10 ** (WORSE_ONCE_DB / 10)

    def _distrust(self) -> None:
        """The NLP counts on the filter again once it cancels again, and until
        then looks for the echo anywhere the delay could have moved it (an
        underrun longer than the tail moves it out, for the delay finder to
        follow) and for no further loss of the path."""
        self._since_in = self._since_out = 0.0
        self._worse = 0
        self._learnt = 0.0
        self._placed = False
        self._watch.reset()
        self.state.lost += 1

    def _follow(self, lag: int) -> bool:
        """Move the tail to an echo found ``lag`` frames back, one frame inside it,
        unless the tail covers it already; whether it moved."""
        if self._lag <= lag <= self._lag + max(self.state.tail_ms // 20 - 1, 0):
            return False
        self._lag = max(lag - 1, 1)
        self._lib.speex_echo_state_reset(self._echo)
        self._watch.reset()
        self._power_in = self._power_out = self._since_in = self._since_out = 0.0
        self._learnt = 0.0
        self._placed = False
        self.state.erle_db = None
        self.state.delay_ms = (self._lag - 1) * 20
        self.state.moves += 1
        log.info("echo canceller: echo found %d ms back at heard frame %d; tail moved there", lag * 20, self._heard_count)
        return True

    def restart(self, dropped: int = 0) -> None:
        """The line's streams start again (a new call on a card opened for it):
        count sent and heard frames from here, and heard frames dropped from
        ``dropped`` on. The filter keeps the path it learnt, but the NLP trusts
        it only once it cancels again: the card's round trip may have moved."""
        self._dropped = dropped
        self._sent.clear()
        self._sent_count = self._heard_count = 0
        self._finder = DelayEstimator()
        self._far_powers.extend([0.0] * self._far_powers.maxlen)
        self._history_powers.clear()
        self._watch.reset()
        self._power_in = self._power_out = self._since_in = self._since_out = 0.0
        self._learnt = 0.0
        self._placed = False
        self._worse = 0
        self.state.erle_db = None

    def reset(self) -> None:
        """Forget the learnt echo path (a line moved to another device)."""
        self._lib.speex_echo_state_reset(self._echo)
        self.restart()
        self.state = EchoState(self.state.tail_ms, delay_ms=self.state.delay_ms)

    def close(self) -> None:
        """Free the C state; safe to call twice."""
        if self._echo is not None:
            self._lib.speex_echo_state_destroy(self._echo)
            self._echo = None

    def __del__(self) -> None:
        self.close()


def from_options(o, two_wire: bool) -> EchoCanceller | None:
    """The canceller a line's parsed ECHO_OPTIONS (drivers.options) ask for, on by
    default when the line is ``two_wire``; None when off.

    >>> from types import SimpleNamespace
    >>> from_options(SimpleNamespace(echo=None, echo_tail=64, echo_delay=0), two_wire=False) is None
    True
    >>> from_options(SimpleNamespace(echo="on", echo_tail=96, echo_delay=40), two_wire=False).state.tail_ms
    96
    """
    if not echo_wanted(o, two_wire):
        return None
    return EchoCanceller(tail_ms=o.echo_tail, delay_ms=o.echo_delay)


def availability() -> str:
    """Whether this box can cancel echo, for ``ivrbox devices``."""
    try:
        library()
    except EchoCancellerError as e:
        return f"unavailable: {e}"
    return "speexdsp MDF + NLP"


__all__ = ["EchoCanceller", "EchoCancellerError", "EchoState", "availability", "from_options"]
