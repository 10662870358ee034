"""How the Devices page words sizes, times, PINs, fingerprints and the receiver's start errors."""

from __future__ import annotations

import errno
from datetime import datetime

from ui.widgets import human_bytes as human_bytes  # re-exported: the devices panels format with it

LOW_SPACE_BYTES = 5 * 1024**3  # below this the free-space line becomes a warning


def free_space_hint(free: int | None) -> str:
    """What the page says about the room left for originals (synced files are kept there)."""
    if free is None:
        return ""
    if free < LOW_SPACE_BYTES:
        return (f" Only {human_bytes(free)} free on the memory's disk: a file there is no room for stays on "
                "the device (listed under Problems); make room before taking a full card.")  # fmt: skip
    return f" {human_bytes(free)} free for originals."


def format_elapsed(seconds: float) -> str:
    s = max(0, int(seconds))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


def group_pin(pin: str) -> str:
    return f"{pin[:3]} {pin[3:]}" if len(pin) == 6 else pin


def group_fingerprint(fp: str) -> str:
    """``AB12 CD34 …``: easier to compare by eye with what the phone shows."""
    fp = fp.upper()
    return " ".join(fp[i : i + 4] for i in range(0, len(fp), 4))


def start_error_message(e: BaseException, port: int) -> str:
    """A sentence for why the receiver did not start."""
    if isinstance(e, OSError) and e.errno in (errno.EADDRINUSE, errno.EACCES):
        if e.errno == errno.EADDRINUSE:
            return (f"Port {port} is already in use by another program (another lifelog, or LocalSend?). "
                    "Close it and switch receiving on again.")  # fmt: skip
        return f"Not allowed to listen on port {port} ({e.strerror or e})."
    return f"Could not start receiving: {e}"


def local_time(dt: datetime) -> datetime:
    return dt.astimezone() if dt.tzinfo is not None else dt


def day_text(dt: datetime) -> str:
    return local_time(dt).strftime("%Y-%m-%d")


def when_text(dt: datetime | None) -> str:
    return local_time(dt).strftime("%Y-%m-%d %H:%M") if dt is not None else "never"
