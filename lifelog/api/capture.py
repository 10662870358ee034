"""One pause for everything (issue #13): the capture state every capture path obeys.

What the front ends need of :mod:`lifelog.sources.capture`: pause / resume / read the state of a
data dir, the cheap check for a polling timer, and the parsers of ``--for`` / ``--until``.
"""

from lifelog.sources.capture import (
    CAPTURE_FILE,
    CaptureError,
    CaptureState,
    CaptureWatch,
    capture_file,
    parse_duration,
    parse_until,
    pause,
    resume,
    state,
)

__all__ = [
    "CAPTURE_FILE",
    "CaptureError",
    "CaptureState",
    "CaptureWatch",
    "capture_file",
    "parse_duration",
    "parse_until",
    "pause",
    "resume",
    "state",
]
