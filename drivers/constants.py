"""The ground floor: the audio format and telephone numbers every layer shares.

Audio crosses every line, detector and player as 20 ms frames of 8 kHz,
16-bit little-endian mono PCM. Levels are in dBm0 with the G.711 convention
for 16-bit linear PCM: a 0 dBm0 sine is 3.17 dB below a full-scale sine.

    >>> FRAME_SAMPLES, FRAME_BYTES, len(SILENCE)
    (160, 320, 320)
    >>> round(DBM0_PEAK)
    22748
    >>> DTMF_KEYS[4 * DTMF_LOW.index(770.0) + DTMF_HIGH.index(1336.0)]
    '5'
"""

RATE = 8000
FRAME_SECONDS = 0.02
FRAME_SAMPLES = 160
FRAME_BYTES = 2 * FRAME_SAMPLES
SILENCE = bytes(FRAME_BYTES)

FULL_SCALE = 32767.0
DBM0_PEAK = FULL_SCALE * 10 ** (-3.17 / 20)  # peak of a 0 dBm0 sine
DBM0_POWER = DBM0_PEAK**2 / 2  # mean power of a 0 dBm0 sine

DTMF_LOW = (697.0, 770.0, 852.0, 941.0)
DTMF_HIGH = (1209.0, 1336.0, 1477.0, 1633.0)
DTMF_KEYS = "123A456B789C*0#D"  # the key of low tone i and high tone j is DTMF_KEYS[4 * i + j]

ECHO_MAX_LAG = 60  # frames (1.2 s): the longest bulk delay the echo canceller looks for
IMPAIRMENTS = ("echo", "codec", "noise", "level", "clip")  # what drivers.impair does to a simulated line
