"""The sample media fetcher and the composer of days of head-worn-camera footage.

The recipe and the building blocks are tested on synthetic pictures, so they always run; the
composed sample day and the long benchmark video use the real media fetched by
``python -m lifelog.sample.fetch`` and are skipped, with the reason, when it is missing.
"""

from __future__ import annotations

import itertools
import json
import math
import wave
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import av
import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image

from lifelog.sample.compose import (
    GROUND_TRUTH_FILE,
    GroundTruth,
    Scene,
    compose_days,
    load_recipe,
    make_clip,
    make_long_video,
    parse_timezone,
    planned_truth,
)
from lifelog.sample.fetch import (
    REQUIRED,
    SOURCES,
    SampleMedia,
    SampleMediaUnavailable,
    sample_media,
)

DEFAULT_DAY = "2024-05-14"


# ---------------------------------------------------------------------------------- helpers


def _creation_time(path: Path) -> datetime:
    with av.open(str(path)) as c:
        value = c.metadata["creation_time"]
    assert value.endswith("Z"), value
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _exif_time(path: Path) -> datetime:
    exif = Image.open(path).getexif().get_ifd(0x8769)
    local = datetime.strptime(exif[0x9003], "%Y:%m:%d %H:%M:%S")  # DateTimeOriginal
    return local.replace(tzinfo=parse_timezone(exif[0x9011]))  # OffsetTimeOriginal


def _video_info(path: Path) -> dict[str, Any]:
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        tb = v.time_base
        assert tb is not None
        keyframes = [float(p.pts * tb) for p in c.demux(v) if p.is_keyframe and p.pts is not None]
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        frames = [f.to_ndarray(format="gray") for f in c.decode(v)]
        info: dict[str, Any] = {
            "codec": v.codec_context.name,
            "pix_fmt": v.codec_context.pix_fmt,
            "size": (v.width, v.height),
            "fps": float(v.average_rate or 0),
            "duration": _seconds(v),
            "audio": [s.codec_context.name for s in c.streams.audio],
        }
    info["frames"] = frames
    info["keyframes"] = keyframes
    return info


def _seconds(stream: Any) -> float:
    return float(stream.duration * stream.time_base) if stream.duration else 0.0


def _picture(w: int, h: int, seed: int) -> npt.NDArray[np.uint8]:
    """A synthetic picture of smooth colour blobs, different per seed."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, size=(5, 7, 3), dtype=np.uint8)
    return np.asarray(Image.fromarray(small).resize((w, h), Image.Resampling.BICUBIC)).copy()


def _synthetic_media(root: Path) -> SampleMedia:
    root.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(("red.png", "blue.png", "green.png")):
        Image.fromarray(_picture(480, 320, i)).save(root / name)
    return SampleMedia(root=root, names=("blue.png", "green.png", "red.png"))


SYNTHETIC_RECIPE: dict[str, Any] = {
    "days": [
        {
            "date": "2023-11-02",
            "timezone": "+02:00",
            "scenes": [
                {
                    "id": "a",
                    "clip": "c",
                    "start": "23:59:55",
                    "duration": 3,
                    "source": "red.png",
                    "effect": "pan",
                    "tags": ["red", "thing"],
                },
                {
                    "id": "b",
                    "clip": "c",
                    "start": "23:59:58",
                    "duration": 2,
                    "source": "blue.png",
                    "effect": "zoom_in",
                    "tags": ["blue"],
                    "people": ["Ada"],
                },
                {
                    "id": "snap",
                    "kind": "photo",
                    "start": "06:30:00",
                    "source": "green.png",
                    "tags": ["green", "thing"],
                },
                {"id": "gone", "start": "07:00:00", "duration": 2, "source": "missing.png", "tags": ["x"]},
            ],
        }
    ]
}


# ---------------------------------------------------------------------- recipe (no media)


def test_recipe_describes_at_least_two_distinct_days() -> None:
    truth = planned_truth()
    assert len(truth.days) >= 2
    per_day = {d: truth.on_day(d) for d in truth.days}
    for day, scenes in per_day.items():
        footage = sum(s.duration for s in scenes if s.kind == "video")
        assert 120 <= footage <= 240, f"{day}: {footage} s of footage, want 2-4 minutes"
        assert any(s.kind == "photo" for s in scenes), f"{day} has no photo"
        for s in scenes:
            assert s.tags, f"{s.id} has no tags"
            assert s.start.tzinfo is not None and s.start.utcoffset() is not None
            assert s.start.date().isoformat() == day
        starts = [s.start for s in scenes]
        assert starts == sorted(starts)
    sources = [{s.source for s in scenes} for scenes in per_day.values()]
    assert sources[0] & sources[1], "some scenes repeat across days"
    assert sources[0] ^ sources[1], "the days differ"
    assert truth.days[0] == DEFAULT_DAY


def test_recipe_has_a_hard_cut_and_gaps() -> None:
    truth = planned_truth()
    by_file: dict[str, list[Scene]] = {}
    for s in truth.scenes:
        by_file.setdefault(s.file, []).append(s)
    cuts = [ss for ss in by_file.values() if len(ss) > 1]
    assert cuts, "at least one clip holds two scenes back to back"
    for ss in cuts:
        for a, b in itertools.pairwise(ss):
            assert a.end == b.start, "no time gap at a hard cut"
            assert b.offset == pytest.approx(a.offset + a.duration)
    for day in truth.days:
        scenes = [s for s in truth.on_day(day) if s.offset == 0]
        gaps = [(b.start - a.end).total_seconds() for a, b in itertools.pairwise(scenes)]
        assert min(gaps) >= 60 and max(gaps) >= 3600, "gaps of minutes to hours between clips"


def test_recipe_sources_are_fetched_and_known_faces_named() -> None:
    fetched = {n for src in SOURCES for n in src.files.values()}
    data = load_recipe()
    for day in data["days"]:
        for spec in day["scenes"]:
            assert spec["source"] in fetched, spec["source"]
            for wav in spec.get("audio", ()):
                assert wav in fetched, wav
    assert set(REQUIRED) <= fetched
    truth = planned_truth()
    assert {s.day for s in truth.scenes_with("Barack Obama")} == set(truth.days)
    cats = truth.scenes_with("cat")
    assert {s.day for s in cats} == set(truth.days)
    last = truth.last_seen("CAT")
    assert last is not None and last == cats[-1] and last.day == truth.days[-1]
    first_day_evening = datetime.fromisoformat(f"{DEFAULT_DAY}T23:00:00+01:00")
    before = truth.last_seen("cat", now=first_day_evening)
    assert before is not None and before.day == DEFAULT_DAY
    assert truth.scenes_with("no such thing") == []


def test_ground_truth_round_trips_json() -> None:
    truth = planned_truth()
    doc = json.loads(json.dumps(truth.to_json()))
    back = GroundTruth.from_json(doc)
    assert back == truth
    assert back.to_json() == doc
    assert all(f["creation_time"].endswith("Z") for f in doc["files"])
    with pytest.raises(ValueError):
        Scene.from_json({**doc["scenes"][0], "start": "2024-05-14T08:05:00"})  # naive time


def test_recipe_errors_are_reported() -> None:
    bad = json.loads(json.dumps(SYNTHETIC_RECIPE))
    bad["days"][0]["scenes"][1]["start"] = "23:59:59"  # gap inside a clip
    with pytest.raises(ValueError, match="without a gap"):
        planned_truth(bad)
    with pytest.raises(ValueError, match="no such day"):
        planned_truth(SYNTHETIC_RECIPE, days=["1999-01-01"])


def test_parse_timezone() -> None:
    assert parse_timezone("+02:00").utcoffset(None) == timedelta(hours=2)
    assert parse_timezone("-0530").utcoffset(None) == -timedelta(hours=5, minutes=30)
    assert parse_timezone("Z") is UTC
    london = parse_timezone("Europe/London")
    assert datetime(2024, 5, 14, 12, tzinfo=london).utcoffset() == timedelta(hours=1)


# ------------------------------------------------------------- building blocks (synthetic)


def test_make_clip_writes_h264_with_creation_time_and_gop(tmp_path: Path) -> None:
    start = datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=-5)))
    out = make_clip(
        tmp_path / "a.mp4",
        _picture(500, 300, 3),
        4.0,
        start,
        fps=10,
        size=(320, 180),
        effect="zoom_out",
        gop_seconds=1.0,
    )
    info = _video_info(out)
    assert _creation_time(out) == start
    assert info["codec"] == "h264" and info["pix_fmt"] == "yuv420p" and info["size"] == (320, 180)
    assert len(info["frames"]) == 40 and info["duration"] == pytest.approx(4.0)
    assert info["keyframes"] == pytest.approx([0.0, 1.0, 2.0, 3.0])
    assert info["audio"] == []
    # motion: consecutive frames differ a little (pan/zoom/shake/noise), never identical
    diffs = [np.abs(a.astype(int) - b).mean() for a, b in itertools.pairwise(info["frames"])]
    assert min(diffs) > 0.1 and max(diffs) < 20
    assert not (tmp_path / "a.mp4.part").exists()


def test_make_clip_is_deterministic_and_muxes_speech(tmp_path: Path) -> None:
    wav = tmp_path / "tone.wav"
    rate = 16000
    samples = (0.3 * np.sin(2 * math.pi * 440 * np.arange(rate) / rate) * 32767).astype("<i2")
    with wave.open(str(wav), "wb") as wf:
        wf.setnchannels(1)
        wf.setsampwidth(2)
        wf.setframerate(rate)
        wf.writeframes(samples.tobytes())
    start = datetime(2024, 1, 2, 12, tzinfo=UTC)
    pic = Image.fromarray(_picture(400, 400, 5))
    a = make_clip(tmp_path / "a.mp4", pic, 3.0, start, size=(256, 144), audio_wav=wav, seed=7)
    b = make_clip(tmp_path / "b.mp4", pic, 3.0, start, size=(256, 144), audio_wav=wav, seed=7)
    assert a.read_bytes() == b.read_bytes(), "same inputs, same bytes"
    with av.open(str(a)) as c:
        audio = c.streams.audio[0]
        assert audio.codec_context.name == "aac"
        pcm = np.concatenate([f.to_ndarray().reshape(-1) for f in c.decode(audio)])
    assert len(pcm) / rate == pytest.approx(3.0, abs=0.1)
    assert np.abs(pcm[: rate // 2]).max() < 0.05, "speech starts 1 s in"
    assert np.abs(pcm[int(1.2 * rate) : int(1.8 * rate)]).max() > 0.1


def test_make_clip_failure_leaves_no_file(tmp_path: Path) -> None:
    start = datetime(2024, 1, 2, 12, tzinfo=UTC)
    with pytest.raises(FileNotFoundError):
        make_clip(tmp_path / "x.mp4", tmp_path / "no-such.png", 2.0, start)
    with pytest.raises(ValueError, match="timezone-aware"):
        make_clip(tmp_path / "y.mp4", _picture(64, 64, 1), 1.0, datetime(2024, 1, 2, 12))
    assert list(tmp_path.iterdir()) == []


def test_compose_synthetic_day_with_fixed_offset(tmp_path: Path) -> None:
    media = _synthetic_media(tmp_path / "media")
    out = tmp_path / "out"
    truth = compose_days(out, media=media, recipe=SYNTHETIC_RECIPE, fps=10, size=(320, 180))
    assert [s.id.split("/")[1] for s in truth.scenes] == ["snap", "a", "b"]
    assert len(truth.skipped) == 1 and "missing.png" in truth.skipped[0]
    a, b = truth.scenes[1], truth.scenes[2]
    assert a.file == b.file and b.offset == 3.0 and b.people == ("Ada",)
    # the clip starts at 23:59:55 +02:00, i.e. 21:59:55 UTC
    assert _creation_time(out / a.file) == datetime(2023, 11, 2, 21, 59, 55, tzinfo=UTC)
    info = _video_info(out / a.file)
    assert len(info["frames"]) == 50
    frames = info["frames"]
    cut = np.abs(frames[30].astype(int) - frames[29]).mean()
    within = max(np.abs(frames[i + 1].astype(int) - frames[i]).mean() for i in range(25, 29))
    assert cut > 5 * within, "a hard cut between the two scenes of the clip"
    photo = truth.scenes[0]
    assert photo.kind == "photo" and photo.start == photo.end
    assert _exif_time(out / photo.file) == photo.start
    assert _exif_time(out / photo.file).utcoffset() == timedelta(hours=2)
    assert GroundTruth.load(out) == truth
    assert GroundTruth.load(out / GROUND_TRUTH_FILE) == truth


# --------------------------------------------------------------------------- real media


@pytest.fixture(scope="module")
def real_media() -> SampleMedia:
    try:
        return sample_media()
    except SampleMediaUnavailable as e:
        pytest.skip(f"real sample media unavailable: {e}")


@pytest.fixture(scope="module")
def composed_day(real_media: SampleMedia, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, GroundTruth]:
    out = tmp_path_factory.mktemp("composed")
    return out, compose_days(out, media=real_media, days=[DEFAULT_DAY])


def test_sample_media_names_and_licences(real_media: SampleMedia) -> None:
    assert set(REQUIRED) <= set(real_media.names)
    with pytest.raises(KeyError, match=r"chelsea\.png"):
        real_media.path("no-such-file.png")
    for name in real_media.names:
        info = real_media.info(name)
        assert info["licence"] and info["package"] and info["version"], name
        assert real_media.path(name).stat().st_size == info["size"]


@pytest.mark.media
@pytest.mark.slow
def test_composed_day_matches_ground_truth(composed_day: tuple[Path, GroundTruth], real_media: SampleMedia) -> None:
    out, truth = composed_day
    assert truth.days == (DEFAULT_DAY,)
    planned = planned_truth(days=[DEFAULT_DAY])
    assert {s.id for s in truth.scenes} | {r.split(":")[0] for r in truth.skipped} == {s.id for s in planned.scenes}
    assert GroundTruth.from_json(json.loads((out / GROUND_TRUTH_FILE).read_text())) == truth
    files: dict[str, list[Scene]] = {}
    for s in truth.scenes:
        files.setdefault(s.file, []).append(s)
    assert len(files) >= 8
    for rel, scenes in files.items():
        path = out / rel
        start = min(s.start for s in scenes)
        if scenes[0].kind == "photo":
            assert path.suffix == ".jpg"
            assert _exif_time(path) == start
            continue
        info = _video_info(path)
        assert _creation_time(path) == start, rel
        assert info["codec"] == "h264" and info["size"] == (640, 360) and info["fps"] == 15
        seconds = sum(s.duration for s in scenes)
        assert info["duration"] == pytest.approx(seconds, abs=1e-3), rel
        assert len(info["frames"]) == round(seconds * 15), rel
        assert info["keyframes"][:3] == pytest.approx([0.0, 2.0, 4.0]), rel
        speech = [s for s in scenes if s.speech]
        assert bool(info["audio"]) == bool(speech), rel
    if real_media.has("librivox.transcription"):
        assert any(s.speech and s.people for s in truth.scenes), "real speech muxed into a meeting"


@pytest.mark.media
@pytest.mark.slow
def test_compose_is_idempotent(composed_day: tuple[Path, GroundTruth], real_media: SampleMedia) -> None:
    out, truth = composed_day
    stamps = {f: (out / f).stat().st_mtime_ns for f in truth.files}
    again = compose_days(out, media=real_media, days=[DEFAULT_DAY])
    assert again == truth  # nothing was made again: every file keeps its modification time
    assert {f: (out / f).stat().st_mtime_ns for f in truth.files} == stamps


@pytest.mark.media
@pytest.mark.slow
def test_make_long_video_is_1080p_h264(real_media: SampleMedia, tmp_path: Path) -> None:
    start = datetime(2024, 6, 1, 7, 30, tzinfo=UTC)
    path = make_long_video(tmp_path / "long.mp4", minutes=0.2, media=real_media, start=start, scene_seconds=5)
    assert _creation_time(path) == start
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        assert v.codec_context.name == "h264" and (v.width, v.height) == (1920, 1080)
        assert _seconds(v) == pytest.approx(12.0, abs=1e-3)
        n = sum(1 for _ in c.decode(v))
    assert n == 12 * 30
