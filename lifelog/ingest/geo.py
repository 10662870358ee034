"""Where a file was recorded, from its own metadata (docs/places.md).

* **Videos** (MP4/MOV): the ISO 6709 location string, e.g. ``+55.9533-003.1883+050.000/``,
  as PyAV (FFmpeg) exposes it in ``container.metadata`` (``location``, ``location-eng``,
  ``com.apple.quicktime.location.ISO6709``), or read from the ``moov/udta/©xyz`` atom directly.
* **Photos**: EXIF GPS (``getexif().get_ifd(0x8825)``: latitude/longitude as degrees, minutes,
  seconds rationals with N/S, E/W references; altitude).

A fix is checked before it is kept: NaN or infinite values, latitudes outside ±90 or longitudes
outside ±180, and (0, 0) ("null island", what a receiver without a fix writes) are dropped with a
reason; :func:`implausible_jump` drops a fix that would need an impossible speed from the nearest
fix of the same device. Nothing here touches the network.
"""

from __future__ import annotations

import json
import logging
import math
import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from lifelog.store.sql import sql_str, ts_literal

if TYPE_CHECKING:
    from lifelog.store.db import Store
    from lifelog.store.vault import Vault

log = logging.getLogger(__name__)

MAX_SPEED_KMH = 1200.0  # faster than an airliner: two fixes this far apart in this little time are not both true
MIN_JUMP_KM = 50.0  # below this a jump is not judged (clock skew between files, GPS noise)
EARTH_KM = 6371.0088
_LOCATION_KEYS = ("location", "location-eng", "com.apple.quicktime.location.ISO6709")
_ISO6709 = re.compile(r"^\s*([+-]\d+(?:\.\d+)?)([+-]\d+(?:\.\d+)?)([+-]\d+(?:\.\d+)?)?(?:CRS[^/]*)?/?\s*$")
_GPS_IFD = 0x8825


@dataclass(frozen=True)
class GeoFix:
    """A position read from a file: degrees (WGS 84), metres above sea level when known."""

    lat: float
    lon: float
    alt: float | None = None


@dataclass(frozen=True)
class GeoReading:
    """What a file's metadata said about where it was: a checked fix, or why there is none
    (``reason`` is None when the file simply has no location)."""

    fix: GeoFix | None
    reason: str | None = None


def haversine_km(a: GeoFix, b: GeoFix) -> float:
    p1, p2 = math.radians(a.lat), math.radians(b.lat)
    dp, dl = p2 - p1, math.radians(b.lon - a.lon)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_KM * math.asin(min(1.0, math.sqrt(h)))


def check_fix(lat: float, lon: float, alt: float | None = None) -> GeoReading:
    """A fix that passes the sanity checks, or the reason it does not."""
    if not (math.isfinite(lat) and math.isfinite(lon)):
        return GeoReading(None, "GPS position is not a number")
    if not (-90.0 <= lat <= 90.0) or not (-180.0 <= lon <= 180.0):
        return GeoReading(None, f"GPS position out of range ({lat:.4f}, {lon:.4f})")
    if abs(lat) < 1e-6 and abs(lon) < 1e-6:
        return GeoReading(None, "GPS position is (0, 0): the receiver had no fix")
    if alt is not None and not math.isfinite(alt):
        alt = None
    return GeoReading(GeoFix(lat, lon, alt))


def implausible_jump(fix: GeoFix, t: datetime, neighbours: list[tuple[datetime, GeoFix]]) -> str | None:
    """Why ``fix`` at ``t`` cannot be right next to the accepted fixes of the same device, or None.

    A fix is dropped when reaching it from the nearest fix in time (before or after) would need
    more than :data:`MAX_SPEED_KMH` (e.g. 10,000 km within a minute).
    """
    if not neighbours:
        return None
    nt, nfix = min(neighbours, key=lambda n: abs((n[0] - t).total_seconds()))
    km = haversine_km(fix, nfix)
    if km < MIN_JUMP_KM:
        return None
    hours = max(abs((nt - t).total_seconds()), 1.0) / 3600.0
    if km / hours > MAX_SPEED_KMH:
        mins = hours * 60
        return f"GPS position jumps {km:,.0f} km in {mins:.1f} min from the device's previous fix"
    return None


# ------------------------------------------------------------------------ reading
def parse_iso6709(text: str) -> GeoReading:
    """``+55.9533-003.1883+050.000/`` (decimal degrees; the form cameras and phones write)."""
    m = _ISO6709.match(text or "")
    if not m:
        return GeoReading(None, "GPS location tag is not ISO 6709")
    alt = float(m.group(3)) if m.group(3) else None
    return check_fix(float(m.group(1)), float(m.group(2)), alt)


def video_location(path: Path, metadata: dict[str, str] | None = None) -> GeoReading:
    """The location of an MP4/MOV: the container's metadata (read by PyAV unless given), else the
    ``©xyz`` atom of ``moov/udta``."""
    if metadata is None:
        metadata = _container_metadata(path)
    for key in _LOCATION_KEYS:
        value = metadata.get(key)
        if value:
            return parse_iso6709(value)
    try:
        with path.open("rb") as f:
            raw = _find_xyz(f)
    except OSError:
        return GeoReading(None)
    return parse_iso6709(raw) if raw is not None else GeoReading(None)


def photo_location(exif: Any) -> GeoReading:
    """The GPS position in a photo's EXIF (a Pillow ``Image.Exif``)."""
    try:
        gps = exif.get_ifd(_GPS_IFD)
    except Exception:
        return GeoReading(None)
    if not gps or 2 not in gps or 4 not in gps:
        return GeoReading(None)
    try:
        lat = _dms(gps[2]) * (-1.0 if str(gps.get(1, "N")).strip().upper().startswith("S") else 1.0)
        lon = _dms(gps[4]) * (-1.0 if str(gps.get(3, "E")).strip().upper().startswith("W") else 1.0)
    except (TypeError, ValueError, ZeroDivisionError, IndexError):
        return GeoReading(None, "EXIF GPS position is unreadable")
    alt: float | None = None
    if 6 in gps:
        try:
            alt = float(gps[6]) * (-1.0 if _below_sea(gps.get(5)) else 1.0)
        except (TypeError, ValueError, ZeroDivisionError):
            alt = None
    return check_fix(lat, lon, alt)


def read_location(path: Path, kind: str) -> GeoReading:
    """Where ``path`` (a ``video`` or ``photo``) was recorded, from its own metadata only."""
    try:
        if kind == "video":
            return video_location(path)
        if kind == "photo":
            from PIL import Image

            with Image.open(path) as im:
                return photo_location(im.getexif())
    except Exception as e:  # metadata we cannot read is no location, never a failed import
        log.info("no location read from a %s: %s", kind, type(e).__name__)
    return GeoReading(None)


def _container_metadata(path: Path) -> dict[str, str]:
    import av

    from lifelog.ingest.decode import PROBE_OPTIONS

    with av.open(str(path), options=PROBE_OPTIONS) as c:  # the metadata only: no picture decoded
        return {str(k): str(v) for k, v in c.metadata.items()}


def _dms(value: Any) -> float:
    parts = list(value) if isinstance(value, (tuple, list)) else [value]
    nums = [float(p) for p in parts] + [0.0, 0.0]
    return nums[0] + nums[1] / 60.0 + nums[2] / 3600.0


def _below_sea(ref: Any) -> bool:
    if isinstance(ref, bytes):
        return ref[:1] == b"\x01"
    try:
        return int(ref) == 1
    except (TypeError, ValueError):
        return False


def _boxes(f: BinaryIO, start: int, end: int) -> list[tuple[bytes, int, int]]:
    """(type, payload start, payload end) of the ISO-BMFF boxes in [start, end)."""
    out: list[tuple[bytes, int, int]] = []
    pos = start
    while pos + 8 <= end and len(out) < 10_000:
        f.seek(pos)
        head = f.read(8)
        if len(head) < 8:
            break
        size, kind = struct.unpack(">I4s", head)
        body = pos + 8
        if size == 1:
            ext = f.read(8)
            if len(ext) < 8:
                break
            size = struct.unpack(">Q", ext)[0]
            body = pos + 16
        elif size == 0:
            size = end - pos
        if size < body - pos or pos + size > end:
            break
        out.append((kind, body, pos + size))
        pos += size
    return out


def _find_xyz(f: BinaryIO) -> str | None:
    f.seek(0, 2)
    end = f.tell()
    for kind, s, e in _boxes(f, 0, end):
        if kind != b"moov":
            continue
        for k2, s2, e2 in _boxes(f, s, e):
            if k2 != b"udta":
                continue
            for k3, s3, e3 in _boxes(f, s2, e2):
                if k3 == b"\xa9xyz" and e3 - s3 >= 4:
                    f.seek(s3)
                    data = f.read(min(e3 - s3, 256))
                    n = struct.unpack(">H", data[:2])[0]
                    return data[4:4 + n].decode("utf-8", "replace")
    return None


# ------------------------------------------------------------------------ storing
JUMP_WINDOW = timedelta(days=1)  # at MAX_SPEED_KMH a day reaches anywhere: older fixes cannot contradict


def geo_aad(media_id: str) -> str:
    return f"geo:{media_id}"


def encrypt_fix(vault: Vault, media_id: str, fix: GeoFix) -> bytes:
    return vault.encrypt_text(json.dumps({"lat": fix.lat, "lon": fix.lon, "alt": fix.alt}), geo_aad(media_id))


def decrypt_fix(vault: Vault, media_id: str, blob: bytes | None) -> GeoFix | None:
    if not blob:
        return None
    d = json.loads(vault.decrypt_text(blob, geo_aad(media_id)))
    return GeoFix(float(d["lat"]), float(d["lon"]), None if d.get("alt") is None else float(d["alt"]))


def device_fixes(
    store: Store, vault: Vault, device: str | None, around: datetime, pending: Sequence[dict[str, Any]] = ()
) -> list[tuple[datetime, GeoFix]]:
    """The accepted fixes of ``device`` (None: files imported without one) within a day of ``around``:
    those in the store and those ``pending`` (``media_geo`` rows of files staged earlier in the same
    batch, not yet committed)."""
    dev = f"device = {sql_str(device)}" if device else "device IS NULL"
    lo, hi = around - JUMP_WINDOW, around + JUMP_WINDOW
    where = (f"{dev} AND status = 'ok' AND t >= {ts_literal(lo)} AND t <= {ts_literal(hi)}")
    rows = store.rows("media_geo", where, columns=["media_id", "t", "fix_enc"]).to_pylist()
    rows += [r for r in pending
             if r["device"] == device and r["status"] == "ok" and r["t"] is not None and lo <= r["t"] <= hi]
    out: list[tuple[datetime, GeoFix]] = []
    for r in rows:
        fix = decrypt_fix(vault, r["media_id"], r["fix_enc"])
        if fix is not None and r["t"] is not None:
            out.append((r["t"], fix))
    return out


def media_geo_row(
    store: Store, vault: Vault, path: Path, kind: str, media_id: str, t: datetime, device: str | None,
    pending: Sequence[dict[str, Any]] = (),
) -> tuple[dict[str, Any] | None, str | None]:
    """(the ``media_geo`` row of a file, or None when it has no location; the reason its
    location was dropped, or None). Only the checked position is stored, encrypted. A batch
    import passes the rows it has staged but not committed as ``pending``, so that a file is
    checked against the files before it in the same batch too."""
    reading = read_location(path, kind) if kind in ("video", "photo") else GeoReading(None)
    reason = reading.reason
    fix = reading.fix
    if fix is not None:
        reason = implausible_jump(fix, t, device_fixes(store, vault, device, t, pending))
        if reason:
            fix = None
    if fix is None and reason is None:
        return None, None
    if reason:
        log.warning("a file's GPS position was dropped: %s", reason)
    row = {
        "id": media_id, "media_id": media_id, "device": device, "t": t,
        "status": "ok" if fix is not None else "dropped", "reason": reason,
        "fix_enc": encrypt_fix(vault, media_id, fix) if fix is not None else None,
    }
    return row, reason
