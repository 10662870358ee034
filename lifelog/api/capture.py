"""One pause for everything (issue #13): the capture state every capture path obeys.

What the front ends need of :mod:`lifelog.sources.capture`: pause / resume / read the state of a
data dir, the cheap check for a polling timer, and the parsers of ``--for`` / ``--until``; the
private-mode rules (quiet hours, excluded devices: ``PrivacySettings``) and :func:`privacy_report`,
everything the user controls about capture and what is kept, as one JSON document.
"""

from pathlib import Path
from typing import Any

from lifelog.config import PrivacySettings, QuietWindow, load_settings
from lifelog.sources.capture import (
    CAPTURE_FILE,
    CaptureError,
    CaptureState,
    CaptureWatch,
    capture_file,
    parse_duration,
    parse_until,
    pause,
    quiet_window_at,
    recorded_in_quiet_hours,
    resume,
    state,
    stored_state,
)


def privacy_report(data_dir: Path) -> dict[str, Any]:
    """``{"capture", "quiet_hours", "excluded_devices", "redaction", "retention"}``: the capture
    state now (the pause or the rule that keeps it off), the private-mode rules, the redaction and
    bystander settings and the retention rules (``lifelog privacy --json``)."""
    settings = load_settings(Path(data_dir))
    st = state(data_dir)
    p = settings.privacy
    return {
        "capture": {**st.to_json(), "message": st.message()},
        "quiet_hours": [w.model_dump() for w in p.quiet_hours],
        "excluded_devices": list(p.excluded_devices),
        "redaction": {
            "blur_bystanders": p.blur_bystanders,
            "redact_sensitive_text": p.redact_sensitive_text,
            "sensitive_words": len(p.sensitive_words),
        },
        "retention": settings.retention.model_dump(),
    }

__all__ = [
    "CAPTURE_FILE",
    "CaptureError",
    "CaptureState",
    "CaptureWatch",
    "PrivacySettings",
    "QuietWindow",
    "capture_file",
    "parse_duration",
    "parse_until",
    "pause",
    "privacy_report",
    "quiet_window_at",
    "recorded_in_quiet_hours",
    "resume",
    "state",
    "stored_state",
]
