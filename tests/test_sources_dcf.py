"""USB/DCF volumes: finding them, recognising layouts, stable identity, never writing, watching."""

from __future__ import annotations

import os
import shutil
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from lifelog.api import Memory
from lifelog.sources import registry
from lifelog.sources.base import MediaItem, RefusedItem, check_item, check_name
from lifelog.sources.dcf import (
    DcfVolumeSource,
    chapter_group,
    detect_layout,
    find_volumes,
    identify_volume,
    volume_uuid,
)
from lifelog.sources.sim.clips import make_clips
from lifelog.sources.sim.dcf import LAYOUT_DIRS, add_file, make_volume
from lifelog.sources.sync import SyncOptions, SyncResult, sync_source, watch_paired

CEST = timezone(timedelta(hours=2))
START = datetime(2024, 5, 16, 7, 0, tzinfo=CEST)
_CLIPS: dict[str, list[tuple[Path, datetime]]] = {}


@pytest.fixture
def clips(tmp_path_factory: pytest.TempPathFactory, media: Any) -> list[tuple[Path, datetime]]:
    if "c" not in _CLIPS:
        _CLIPS["c"] = make_clips(tmp_path_factory.mktemp("dcf_clips"), 3, START)
    return _CLIPS["c"]


def tree(root: Path) -> dict[str, tuple[int, int, bytes]]:
    """Every entry under root with size, mtime and bytes: any write to the volume shows."""
    out = {}
    for p in sorted(root.rglob("*")):
        st = p.stat()
        out[str(p.relative_to(root))] = (st.st_size, st.st_mtime_ns, p.read_bytes() if p.is_file() else b"")
    return out


@pytest.mark.parametrize("layout", sorted(LAYOUT_DIRS))
def test_layouts_are_recognised_and_listed(layout: str, tmp_path: Path, clips: list[tuple[Path, datetime]]) -> None:
    vol = make_volume(tmp_path / "media", f"CARD_{layout}", layout, clips[:2])
    assert [v.path for v in find_volumes([tmp_path / "media"])] == [vol]
    assert detect_layout(vol) == layout
    src = DcfVolumeSource(vol)
    names = sorted(i.name for i in src.list_media())
    assert len(names) == 2 and all(n.startswith(LAYOUT_DIRS[layout] + "/") for n in names)
    assert src.identity().kind == "usb" and src.identity().details["layout"] == layout


def test_non_dcf_volumes_and_side_files_are_ignored(tmp_path: Path, clips: list[tuple[Path, datetime]]) -> None:
    root = tmp_path / "media"
    (root / "STICK" / "Documents").mkdir(parents=True)
    shutil.copyfile(clips[0][0], root / "STICK" / "Documents" / "talk.mp4")
    (root / "ODD" / "DCIM" / "holiday").mkdir(parents=True)  # not a DCF folder name
    vol = make_volume(root, "GOPRO", "gopro", clips[:1])
    folder = vol / "DCIM" / "100GOPRO"
    (folder / "GL010001.LRV").write_bytes(b"proxy")  # GoPro low-res proxy and thumbnail
    (folder / "GX010001.THM").write_bytes(b"thumb")
    (folder / ".hidden.MP4").write_bytes(b"x")
    os.symlink(clips[1][0], folder / "GX010002.MP4")  # a link could point anywhere
    assert [v.path for v in find_volumes([root])] == [vol]
    assert [i.name for i in DcfVolumeSource(vol).list_media()] == ["100GOPRO/GX010001.MP4"]


def test_gopro_chapters_share_a_group() -> None:
    assert chapter_group("100GOPRO/GX010042.MP4") == chapter_group("100GOPRO/GX020042.MP4") == "GX0042"
    assert chapter_group("100GOPRO/GX010043.MP4") != "GX0042"
    assert chapter_group("100MEDIA/DJI_0001.MP4") is None


def test_identity_is_stable_across_remounts_and_new_files(tmp_path: Path, clips: list[tuple[Path, datetime]]) -> None:
    root = tmp_path / "media"
    gopro = make_volume(root, "GOPRO", "gopro", clips[:1])
    canon = make_volume(root, "EOS_DIGITAL", "canon", clips[1:2])
    ids = {identify_volume(gopro).id, identify_volume(canon).id}
    assert len(ids) == 2
    gid = identify_volume(gopro).id
    assert identify_volume(gopro).details["fingerprint"] == "info-file"
    assert "HERO12 Black" in identify_volume(gopro).label
    # Unmount, record more on the camera, mount again (new inode): same device.
    away = tmp_path / "away"
    shutil.move(str(gopro), away)
    add_file(away, "gopro", 2, clips[2][0], clips[2][1])
    shutil.move(str(away), gopro)
    assert identify_volume(gopro).id == gid
    cid = identify_volume(canon).id
    add_file(canon, "canon", 2, clips[2][0], clips[2][1])  # later files do not change the fingerprint
    assert identify_volume(canon).id == cid
    # Another card with the same label but other files is another device.
    other = make_volume(tmp_path / "media2", "EOS_DIGITAL", "canon", clips[2:3])
    assert identify_volume(other).id != cid


def test_filesystem_uuid_from_the_mount_table(tmp_path: Path, clips: list[tuple[Path, datetime]]) -> None:
    vol = make_volume(tmp_path / "media", "CARD", "canon", clips[:1])
    mountinfo = tmp_path / "mountinfo"
    esc = str(vol).replace(" ", "\\040")
    mountinfo.write_text(
        "22 27 0:21 / /proc rw,relatime - proc proc rw\n"
        f"98 27 8:17 / {esc} rw,nosuid,nodev,relatime shared:50 - exfat /dev/sdz1 rw,uid=1000\n"
    )
    by_uuid, by_label = tmp_path / "by-uuid", tmp_path / "by-label"
    by_uuid.mkdir()
    by_label.mkdir()
    os.symlink("/dev/sdz1", by_uuid / "6F1C-2A3B")
    os.symlink("/dev/sdz2", by_uuid / "0000-1111")
    os.symlink("/dev/sdz1", by_label / "EOS_DIGITAL")
    kw: dict[str, Path] = {"mountinfo": mountinfo, "by_uuid": by_uuid, "by_label": by_label}
    assert volume_uuid(vol, **kw) == ("6F1C-2A3B", "EOS_DIGITAL")
    ident = identify_volume(vol, **kw)
    assert ident.details["uuid"] == "6F1C-2A3B" and "EOS_DIGITAL" in ident.label
    add_file(vol, "canon", 2, clips[1][0], clips[1][1])
    assert identify_volume(vol, **kw).id == ident.id


def test_sync_never_writes_to_the_volume(
    tmp_path: Path, data_dir: Path, clips: list[tuple[Path, datetime]], models_ready: None
) -> None:
    vol = make_volume(tmp_path / "media", "GOPRO", "gopro", clips[:2])
    before = tree(vol)
    res = sync_source(Memory(data_dir), DcfVolumeSource(vol))
    assert res.imported == 2
    assert tree(vol) == before


def test_delete_after_verified_copy_only_when_asked(
    tmp_path: Path, data_dir: Path, clips: list[tuple[Path, datetime]], models_ready: None
) -> None:
    vol = make_volume(tmp_path / "media", "DJI", "dji", clips[:2])
    mem = Memory(data_dir)
    res = sync_source(mem, DcfVolumeSource(vol), options=SyncOptions(delete_after=True))
    assert res.imported == 2 and res.deleted == 2
    assert list((vol / "DCIM" / "100MEDIA").iterdir()) == []
    assert len(mem.episodes()) == 2  # the kept originals still back the episodes
    assert len(list((data_dir / "originals" / res.device_id).rglob("*.MP4.lgo"))) == 2  # kept, encrypted


def test_watch_syncs_a_paired_volume_when_it_is_mounted(
    tmp_path: Path, data_dir: Path, clips: list[tuple[Path, datetime]], models_ready: None
) -> None:
    mounts = tmp_path / "media"
    mounts.mkdir()
    elsewhere = make_volume(tmp_path / "unplugged", "GOPRO", "gopro", clips[:1])
    stranger = make_volume(tmp_path / "unplugged", "STRANGER", "canon", clips[1:2])
    registry.pair(data_dir, identify_volume(elsewhere))
    mem = Memory(data_dir)
    cancel = threading.Event()
    results: list[SyncResult] = []
    got = threading.Event()

    def on_result(r: SyncResult) -> None:
        results.append(r)
        got.set()

    t = threading.Thread(
        target=watch_paired,
        args=(mem, cancel),
        kwargs={"roots": [mounts], "interval_s": 0.05, "on_result": on_result},
    )
    t.start()
    try:
        shutil.move(str(stranger), mounts / "STRANGER")  # not paired: left alone
        shutil.move(str(elsewhere), mounts / "GOPRO")  # "plugged in"
        assert got.wait(120), "the paired volume was not synced"
    finally:
        cancel.set()
        t.join(60)
    assert not t.is_alive()
    assert [(r.imported, r.label.startswith("HERO12")) for r in results] == [(1, True)]
    assert len(mem.episodes()) == 1


def test_hostile_names_are_refused_with_reasons() -> None:
    bad = {
        "../x.MP4": "path traversal",
        "100GOPRO/../../x.MP4": "path traversal",
        "/etc/x.MP4": "absolute",
        "C:/x.MP4": "absolute",
        "100GOPRO\\x.MP4": "backslash",
        "100GOPRO/x\x00.MP4": "control characters",
        "100GOPRO/x\n.MP4": "control characters",
        "a/" * 20 + "x.MP4": "nested too deep",
        "100GOPRO/" + "é" * 200 + ".MP4": "longer than 255 bytes",
        "100GOPRO/x.exe": "not a media file",
        "100GOPRO/.x.MP4": "hidden",
        "": "empty",
    }
    for name, why in bad.items():
        with pytest.raises(RefusedItem, match=why):
            check_name(name)
    assert check_name("100GOPRO/GX010001.MP4") == "100GOPRO/GX010001.MP4"
    with pytest.raises(RefusedItem, match="0 bytes"):
        check_item(MediaItem("100GOPRO/A.MP4", 0, 0.0, "a"))
    with pytest.raises(RefusedItem, match="absurd"):
        check_item(MediaItem("100GOPRO/A.MP4", 50 * 1024**4, 0.0, "a"))
    with pytest.raises(RefusedItem, match="SHA-256"):
        check_item(MediaItem("100GOPRO/A.MP4", 10, 0.0, "a", sha256="nothex"))


def test_hostile_files_on_a_volume_are_refused_not_copied(tmp_path: Path, data_dir: Path) -> None:
    vol = make_volume(tmp_path / "media", "STICK", "camera", [])
    folder = vol / "DCIM" / "100_CAM_"
    (folder / "IMG_0001.MP4").write_bytes(b"")  # 0 bytes
    (folder / "IMG\n0002.MP4").write_bytes(b"x" * 100)  # a newline in the name
    os.close(os.open(os.fsencode(folder) + b"/IMG_\xff\xfe.MP4", os.O_CREAT | os.O_WRONLY, 0o644))  # not UTF-8
    res = sync_source(Memory(data_dir), DcfVolumeSource(vol))
    why = sorted(r.reason for r in res.refused)
    assert res.listed == 3 and res.new == 0 and res.imported == 0
    assert any("0 bytes" in w for w in why) and any("control characters" in w for w in why)
    assert any("not valid text" in w for w in why)
    assert not (data_dir / "originals").exists()
    assert all(r.name.isprintable() for r in res.refused)
