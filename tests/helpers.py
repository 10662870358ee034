"""Shared builders for the import / bad-input / CLI tests: real clips, real photos, the real CLI.

Clips are small real H.264 MP4 files composed by :func:`lifelog.sample.compose.make_clip` from
the real sample photos (320x240, 10 fps), so every test imports through the real decoder, the
real models and a real LanceDB on disk. The library is built once per test session.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import pytest

from lifelog.paths import REPO_ROOT

FPS = 10
SIZE = (320, 240)
CEST = timezone(timedelta(hours=2))  # a non-UTC zone, so time-zone mistakes show

# The day the library's footage was "recorded" (local = CEST).
DAY = "2024-05-14"
CAT_MORNING_AT = datetime(2024, 5, 14, 8, 0, tzinfo=CEST)
ROCKET_AT = datetime(2024, 5, 14, 12, 0, tzinfo=CEST)
ROCKET_LATER_AT = datetime(2024, 5, 14, 13, 0, tzinfo=CEST)
COFFEE_TAKEN = datetime(2024, 5, 14, 10, 15, 30, tzinfo=CEST)
CAT_EVENING_AT = datetime(2024, 5, 14, 18, 30, tzinfo=CEST)
TWO_SCENES_AT = datetime(2024, 5, 14, 16, 0, tzinfo=CEST)
# The PNG has no EXIF: its capture time is its mtime (the evening before, UTC).
ASTRONAUT_MTIME = datetime(2024, 5, 13, 21, 0, tzinfo=UTC)
NOW_EVENING = "2024-05-14T20:00:00+02:00"


@dataclass(frozen=True)
class Library:
    root: Path
    cat_morning: Path  # chelsea.png (a cat), panned, 8 s
    cat_evening: Path  # chelsea.png again, zoomed, 8 s, other bytes
    rocket: Path  # rocket.jpg, 8 s
    rocket_later: Path  # rocket.jpg an hour later, other motion
    coffee_jpg: Path  # JPEG with EXIF DateTimeOriginal + OffsetTimeOriginal
    astronaut_png: Path  # PNG without EXIF (mtime fallback)
    two_scenes: Path  # 10 s cat then 10 s rocket in one file, no gap
    long_clips: tuple[Path, ...]  # 20 s clips of different pictures, for kill / cancel tests


_LIBRARY: dict[str, Library] = {}


def library(tmp_path_factory: Any, media: Any) -> Library:
    """Build (once per session) the shared clips and photos."""
    if "lib" in _LIBRARY:
        return _LIBRARY["lib"]
    from lifelog.sample.compose import make_clip, write_photo

    root: Path = tmp_path_factory.mktemp("library")

    def clip(name: str, source: str, seconds: float, start: datetime, effect: str, seed: int) -> Path:
        return make_clip(
            root / name, media.path(source), seconds, start, fps=FPS, size=SIZE, effect=effect, seed=seed
        )

    cat_morning = clip("cat_morning.mp4", "chelsea.png", 8, CAT_MORNING_AT, "pan", 1)
    cat_evening = clip("cat_evening.mp4", "chelsea.png", 8, CAT_EVENING_AT, "zoom_in", 2)
    rocket = clip("rocket.mp4", "rocket.jpg", 8, ROCKET_AT, "pan", 3)
    rocket_later = clip("rocket_later.mp4", "rocket.jpg", 8, ROCKET_LATER_AT, "zoom_out", 4)
    coffee = write_photo(root / "coffee.jpg", media.path("coffee.png"), COFFEE_TAKEN, max_side=640)
    png = root / "astronaut.png"
    shutil.copyfile(media.path("astronaut.png"), png)
    set_mtime(png, ASTRONAUT_MTIME)

    parts = root / "parts"
    a = clip("parts/a.mp4", "chelsea.png", 10, TWO_SCENES_AT, "pan", 5)
    b = clip("parts/b.mp4", "rocket.jpg", 10, TWO_SCENES_AT, "pan", 6)
    two = concat_clips([a, b], root / "two_scenes.mp4", TWO_SCENES_AT)
    shutil.rmtree(parts)

    longs = []
    for i, src in enumerate(["fruits.jpg", "china.jpg", "flower.jpg", "coffee.png", "motorcycle_left.png",
                             "box_in_scene.png", "basketball1.png", "camera.png"]):
        start = datetime(2024, 6, 1, 9, 0, tzinfo=CEST) + timedelta(minutes=10 * i)
        longs.append(clip(f"long/{i:02d}_{Path(src).stem}.mp4", src, 20, start, "pan", 10 + i))

    lib = Library(root, cat_morning, cat_evening, rocket, rocket_later, coffee, png, two, tuple(longs))
    _LIBRARY["lib"] = lib
    return lib


def concat_clips(parts: list[Path], dst: Path, start: datetime) -> Path:
    """Re-encode ``parts`` back to back into one H.264 MP4 (fixed GOP, no keyframe at the cut)."""
    gop = 2 * FPS
    with av.open(str(dst), "w", format="mp4") as out:
        out.metadata["creation_time"] = start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000000Z")
        stream = out.add_stream(
            "libx264",
            rate=FPS,
            options={"preset": "veryfast", "x264-params": f"keyint={gop}:min-keyint={gop}:scenecut=0"},
        )
        stream.width, stream.height = SIZE
        stream.pix_fmt = "yuv420p"
        n = 0
        for part in parts:
            with av.open(str(part)) as src:
                for frame in src.decode(video=0):
                    f = av.VideoFrame.from_ndarray(frame.to_ndarray(format="yuv420p"), format="yuv420p")
                    f.pts = n
                    f.time_base = Fraction(1, FPS)
                    n += 1
                    for pkt in stream.encode(f):
                        out.mux(pkt)
        for pkt in stream.encode():
            out.mux(pkt)
    return dst


def remux(src: Path, dst: Path, fmt: str | None = None, options: dict[str, str] | None = None) -> Path:
    """Copy the video packets of ``src`` into a new container (no re-encode)."""
    with av.open(str(src)) as i, av.open(str(dst), "w", format=fmt, options=options or {}) as o:
        ct = i.metadata.get("creation_time")
        if ct:
            o.metadata["creation_time"] = ct
        ivs = i.streams.video[0]
        ovs = o.add_stream_from_template(ivs)
        for pkt in i.demux(ivs):
            if pkt.dts is None:
                continue
            pkt.stream = ovs
            o.mux(pkt)
    return dst


def set_mtime(path: Path, when: datetime) -> None:
    ts = when.timestamp()
    os.utime(path, (ts, ts))


def copy_to(src: Path, dst: Path) -> Path:
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src, dst)
    return dst


def fingerprint(root: Path) -> dict[str, tuple[str, int, int]]:
    """sha256, mtime_ns and size of every file under ``root`` (or of ``root`` itself)."""
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    out = {}
    for p in files:
        st = p.stat()
        out[os.fsdecode(p)] = (hashlib.sha256(p.read_bytes()).hexdigest(), st.st_mtime_ns, st.st_size)
    return out


# --------------------------------------------------------------------------- the CLI
def cli_env(**extra: str | None) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("LIFELOG_PASSPHRASE", "test passphrase")
    env["TZ"] = "UTC"  # days and "today" are judged in the machine's zone: fix it
    env["PYTHONPATH"] = os.pathsep.join(p for p in [str(REPO_ROOT), env.get("PYTHONPATH", "")] if p)
    env.pop("LIFELOG_DEBUG", None)
    env.pop("LIFELOG_HOME", None)
    for k, v in extra.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    return env


def run_cli(
    data_dir: Path | None,
    *args: str | bytes | os.PathLike[str],
    env: dict[str, str] | None = None,
    timeout: float = 180,
    cwd: Path | None = None,
    **kw: Any,
) -> subprocess.CompletedProcess[str]:
    """``python -m lifelog [--data-dir D] ARGS...`` as a real process; text output."""
    cmd: list[str | bytes | os.PathLike[str]] = [sys.executable, "-m", "lifelog"]
    if data_dir is not None:
        cmd += ["--data-dir", str(data_dir)]
    cmd += list(args)
    return subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        errors="surrogateescape",
        env=env if env is not None else cli_env(),
        timeout=timeout,
        cwd=cwd or REPO_ROOT,
        **kw,
    )


def json_doc(proc: subprocess.CompletedProcess[str]) -> Any:
    """stdout must be exactly one JSON document (whitespace around it allowed)."""
    text = proc.stdout.strip()
    assert text, f"no JSON on stdout; stderr: {proc.stderr[-2000:]}"
    dec = json.JSONDecoder()
    doc, end = dec.raw_decode(text)
    assert text[end:].strip() == "", f"more than one JSON document on stdout: {proc.stdout[:2000]}"
    return doc


def error_line(proc: subprocess.CompletedProcess[str]) -> str:
    """The one-line error message of a failed command (progress lines aside), never a traceback."""
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip() and not ln.startswith("[")]
    assert len(lines) == 1, f"expected a one-line error on stderr, got: {proc.stderr!r}"
    return lines[0]


# --------------------------------------------------------------------- store checks
def store_rows(data_dir: Path, table: str, columns: list[str] | None = None) -> list[dict[str, Any]]:
    """Rows of one table as another process would see them (no write lock, no import)."""
    from lifelog.store.db import Store

    store = Store(data_dir)
    rows: list[dict[str, Any]] = store.rows(table, None, columns=columns).to_pylist()
    return rows


def journal_entries(data_dir: Path) -> list[str]:
    j = data_dir / "journal"
    if not j.is_dir():
        return []
    return sorted(p.name for p in j.iterdir() if not p.name.startswith("."))


def assert_consistent(data_dir: Path, *, allow_journalled: bool = False) -> None:
    """Every episode is whole (all its frames present) and every frame belongs to an episode.

    With ``allow_journalled`` (the state right after a crash, before the next writer rolled it
    back), rows of a file whose import did not finish may exist, but only if the journal names
    that file, so the next writer can undo them.
    """
    episodes = store_rows(data_dir, "episodes", ["id", "media_id", "n_frames"])
    frames = store_rows(data_dir, "frames", ["id", "episode_id", "media_id"])
    media = {r["id"] for r in store_rows(data_dir, "media", ["id"])}
    journal = set(journal_entries(data_dir))
    per_ep: dict[str, int] = {}
    for f in frames:
        per_ep[f["episode_id"]] = per_ep.get(f["episode_id"], 0) + 1
    ep_ids = [e["id"] for e in episodes]
    assert len(ep_ids) == len(set(ep_ids)), "duplicate episode ids"
    for e in episodes:
        if e["media_id"] in media:
            assert per_ep.get(e["id"], 0) == e["n_frames"], f"episode {e['id']} is partial"
        else:
            assert allow_journalled and e["media_id"] in journal, (
                f"episode {e['id']} is visible but its file was never committed and is not journalled"
            )
    for f in frames:
        if f["media_id"] not in media:
            assert allow_journalled and f["media_id"] in journal, f"orphan frame {f['id']} not journalled"


@contextlib.contextmanager
def tmpfs(mnt: Path, size: str) -> Iterator[Path]:
    """A real, small filesystem mounted at ``mnt`` (tests run as root), to fill it up or make it
    read-only; skips the test where mounting is not allowed."""
    mnt.mkdir(parents=True, exist_ok=True)
    try:
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mnt)],
                           capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        pytest.skip(f"cannot mount a tmpfs: {e}")
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {r.stderr.strip()}")
    try:
        yield mnt
    finally:
        gc.collect()
        if subprocess.run(["umount", str(mnt)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(mnt)], capture_output=True)
