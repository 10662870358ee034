"""Small real clips for the simulated devices (H.264 MP4 from the real sample photos)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

PICTURES = ("chelsea.png", "rocket.jpg", "fruits.jpg", "coffee.png", "motorcycle_left.png", "flower.jpg",
            "china.jpg", "astronaut.png")  # fmt: skip


def make_clips(
    out_dir: Path,
    n: int,
    start: datetime,
    *,
    seconds: float = 3.0,
    gap: timedelta = timedelta(hours=1),
    size: tuple[int, int] = (320, 240),
    fps: int = 10,
) -> list[tuple[Path, datetime]]:
    """``n`` real clips of different pictures, ``gap`` apart from ``start``: [(path, start time)]."""
    from lifelog.sample.compose import make_clip
    from lifelog.sample.fetch import sample_media

    media = sample_media()
    out_dir.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        when = start + i * gap
        pic = PICTURES[i % len(PICTURES)]
        p = out_dir / f"clip{i:02d}_{Path(pic).stem}.mp4"
        if not p.exists():
            make_clip(p, media.path(pic), seconds, when, fps=fps, size=size, effect="pan", seed=100 + i)
        out.append((p, when))
    return out
