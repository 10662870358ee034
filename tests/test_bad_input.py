"""Hostile and broken input: every bad file gets a clear reason naming it, the rest of the
import carries on, and nothing already in the memory is lost.

All of it is real: real damaged files (cut, scrambled, mislabelled), real permissions, a real
FIFO, real filesystem errors (a file-size limit, a full tmpfs) and the real CLI.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import resource
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import av
import pytest
from helpers import (
    CAT_MORNING_AT,
    NOW_EVENING,
    Library,
    assert_consistent,
    cli_env,
    copy_to,
    error_line,
    fingerprint,
    journal_entries,
    json_doc,
    library,
    remux,
    run_cli,
    store_rows,
    tmpfs,
)

from lifelog.paths import REPO_ROOT

pytestmark = pytest.mark.usefixtures("models_ready")


@pytest.fixture(scope="session")
def lib(tmp_path_factory: pytest.TempPathFactory, media: Any) -> Library:
    return library(tmp_path_factory, media)


def _memory(data_dir: Path) -> Any:
    from lifelog.api import Memory

    return Memory(data_dir)


def _hash(path: Path) -> str:
    from lifelog.ingest.media import content_hash

    return content_hash(path)


def _cat_answer(data_dir: Path) -> Any:
    """Ask the memory (in this process, as a reader) when the cat was first seen."""
    from lifelog.recall.answer import ask
    from lifelog.recall.parse import parse_now

    return ask(_memory(data_dir), "when did I first see a cat?", now=parse_now(NOW_EVENING), thumbnails=False)


def _readable(data_dir: Path) -> None:
    """Every table reads in full and the earlier cat clip is still the answer."""
    mem = _memory(data_dir)
    for table in ("media", "episodes", "frames"):
        mem.store.rows(table)
    ans = _cat_answer(data_dir)
    assert ans.hits and ans.hits[0].start == CAT_MORNING_AT, ans.answer


DISK_FULL = "disk full"


# ------------------------------------------------------------------- broken files, one run
@pytest.fixture(scope="module")
def broken_run(lib: Library, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One CLI import of a folder of broken files mixed with good ones, into a memory that
    already holds an earlier import."""
    root = tmp_path_factory.mktemp("broken")
    src = root / "card"
    src.mkdir()
    clip = lib.cat_evening.read_bytes()

    (src / "a_empty.mp4").write_bytes(b"")
    (src / "b_garbage.mp4").write_bytes(os.urandom(64 << 10))
    # make_clip writes the moov atom at the end: cut, the index is gone.
    assert clip.find(b"moov") > len(clip) // 2
    (src / "c_truncated_moov_at_end.mp4").write_bytes(clip[: int(len(clip) * 0.6)])
    fast = remux(lib.cat_evening, root / "fast.mp4", options={"movflags": "faststart"}).read_bytes()
    assert fast.find(b"moov") < fast.find(b"mdat")
    (src / "d_truncated_faststart.mp4").write_bytes(fast[: int(len(fast) * 0.6)])
    jpeg = lib.coffee_jpg.read_bytes()
    (src / "e_half.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    _scrambled_h264_mkv(lib.rocket, src / "f_scrambled_h264.mkv")
    _unknown_codec_mkv(lib.rocket, root, src / "g_unknown_codec.mkv")
    _subtitles_only_mkv(root, src / "h_subtitles_only.mkv")
    # good files come last, so the import must carry on past every broken one
    copy_to(lib.rocket, src / "z_rocket.mp4")
    copy_to(lib.coffee_jpg, src / "z_coffee.jpg")

    data = root / "memory"
    first = _memory(data).import_paths([lib.cat_morning])
    assert first.imported == 1
    before_ids = sorted(e["id"] for e in store_rows(data, "episodes", ["id"]))
    before_src = fingerprint(src)
    proc = run_cli(data, "import", str(src), "--json")
    return {
        "src": src,
        "data": data,
        "proc": proc,
        "doc": json_doc(proc),
        "before_ids": before_ids,
        "before_src": before_src,
    }


def _scrambled_h264_mkv(src: Path, dst: Path) -> None:
    """A Matroska file whose H.264 packets are replaced by random bytes of the same size."""
    with av.open(str(src)) as i, av.open(str(dst), "w", format="matroska") as o:
        ivs = i.streams.video[0]
        ovs = o.add_stream_from_template(ivs)
        for p in i.demux(ivs):
            if p.dts is None:
                continue
            q = av.Packet(os.urandom(p.size))
            q.pts, q.dts, q.is_keyframe, q.time_base = p.pts, p.dts, p.is_keyframe, p.time_base
            q.stream = ovs
            o.mux(q)


def _unknown_codec_mkv(src: Path, tmp: Path, dst: Path) -> None:
    """A real Matroska file whose video track has a codec id no decoder knows."""
    good = remux(src, tmp / "good.mkv", fmt="matroska").read_bytes()
    assert good.count(b"V_MPEG4/ISO/AVC") == 1
    dst.write_bytes(good.replace(b"V_MPEG4/ISO/AVC", b"V_MPEG4/ISO/ZZZ"))
    with av.open(str(dst)) as c:
        assert c.streams.video and c.streams.video[0].codec_context is None


def _subtitles_only_mkv(tmp: Path, dst: Path) -> None:
    srt = tmp / "talk.srt"
    srt.write_text("1\n00:00:01,000 --> 00:00:03,000\nHello there\n\n2\n00:00:04,000 --> 00:00:06,000\nBye\n")
    with av.open(str(srt)) as i, av.open(str(dst), "w", format="matroska") as o:
        s = o.add_stream_from_template(i.streams[0])
        for p in i.demux(i.streams[0]):
            if p.dts is None:
                continue
            p.stream = s
            o.mux(p)
    with av.open(str(dst)) as c:
        assert [s.type for s in c.streams] == ["subtitle"]


def _failure(run: dict[str, Any], name: str) -> str:
    hits = [f["error"] for f in run["doc"]["failed"] if f["path"] == str(run["src"] / name)]
    assert len(hits) == 1, f"{name} not reported exactly once as failed: {run['doc']['failed']}"
    return str(hits[0])


def test_broken_files_fail_alone_and_the_rest_is_imported(broken_run: dict[str, Any]) -> None:
    proc, doc, data = broken_run["proc"], broken_run["doc"], broken_run["data"]
    assert proc.returncode == 3, proc.stderr
    assert set(doc) >= {"imported", "skipped", "failed", "episodes"}
    # the two good files, plus possibly what was salvageable from the faststart file
    assert doc["imported"] in (2, 3)
    good = {_hash(broken_run["src"] / "z_rocket.mp4"), _hash(broken_run["src"] / "z_coffee.jpg")}
    assert good <= {e.split("-")[0] for e in doc["episodes"]}
    # one line on stderr per failure, naming the file and the reason
    err_lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("lifelog: ")]
    assert len(err_lines) == len(doc["failed"])
    for f in doc["failed"]:
        assert f"lifelog: {f['path']}: {f['error']}" in err_lines
        assert "Traceback" not in f["error"] and "\n" not in f["error"]
    assert "Traceback" not in proc.stderr
    # nothing already stored was lost, nothing half-written is visible, sources untouched
    after_ids = {e["id"] for e in store_rows(data, "episodes", ["id"])}
    assert set(broken_run["before_ids"]) <= after_ids
    assert journal_entries(data) == []
    assert_consistent(data)
    _readable(data)
    assert fingerprint(broken_run["src"]) == broken_run["before_src"]


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("a_empty.mp4", ["empty"]),
        ("b_garbage.mp4", ["not a readable media file", "corrupt"]),
        ("c_truncated_moov_at_end.mp4", ["truncated", "corrupt"]),
        ("e_half.jpg", ["truncated", "damaged"]),
        ("f_scrambled_h264.mkv", ["cannot be decoded", "no decodable video"]),
        ("h_subtitles_only.mkv", ["no video or audio stream"]),
    ],
)
def test_broken_file_reason(broken_run: dict[str, Any], name: str, words: list[str]) -> None:
    reason = _failure(broken_run, name).lower()
    assert any(w in reason for w in words), reason


def test_truncated_faststart_mp4_is_salvaged_or_reported(broken_run: dict[str, Any]) -> None:
    """moov first, 40% of the frames cut off: keeping the first part is fine, as long as the
    user is told the file is damaged; failing it with a reason is fine too."""
    doc, path = broken_run["doc"], str(broken_run["src"] / "d_truncated_faststart.mp4")
    failed = [f["error"] for f in doc["failed"] if f["path"] == path]
    warned = [w["warning"] for w in doc.get("warnings", []) if w["path"] == path]
    if failed:
        assert any(w in failed[0].lower() for w in ("truncated", "damaged", "corrupt")), failed
    else:
        assert warned and any(w in " ".join(warned).lower() for w in ("damaged", "truncated")), doc


def test_unknown_codec_says_unsupported_codec(broken_run: dict[str, Any]) -> None:
    reason = _failure(broken_run, "g_unknown_codec.mkv")
    assert "codec" in reason.lower() and "Error" not in reason, reason


# ---------------------------------------------------------------------- many non-media files
def test_ten_thousand_non_media_files_are_ignored_quickly(lib: Library, tmp_path: Path, data_dir: Path) -> None:
    src = tmp_path / "dump"
    junk = src / "junk"
    junk.mkdir(parents=True)
    for i in range(10_000):
        (junk / f"note{i:05d}.txt").touch()
    copy_to(lib.cat_morning, src / "deep" / "er" / "clip.mp4")
    t0 = time.monotonic()
    proc = run_cli(data_dir, "import", str(src), "--json")
    took = time.monotonic() - t0
    assert proc.returncode == 0, proc.stderr
    doc = json_doc(proc)
    assert (doc["imported"], doc["skipped"], doc["failed"]) == (1, 0, [])
    assert doc["ignored"] == 10_000
    assert took < 60, f"walking 10,000 non-media files took {took:.1f} s"


# ------------------------------------------------------------------------ unreadable files
def _drop_dac_override() -> None:
    """Run as root without CAP_DAC_OVERRIDE / CAP_DAC_READ_SEARCH: file modes apply again."""
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
        if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def test_unreadable_file_is_reported_and_the_rest_imported(lib: Library, tmp_path: Path, data_dir: Path) -> None:
    src = tmp_path / "card"
    copy_to(lib.cat_morning, src / "a_cat.mp4")
    secret = copy_to(lib.rocket, src / "b_secret.mp4")
    secret.chmod(0)
    preexec = None
    if os.geteuid() == 0:
        probe = subprocess.run(["cat", str(secret)], preexec_fn=_drop_dac_override, capture_output=True)
        if probe.returncode == 0:
            pytest.skip("running as root and file permissions cannot be made to apply")
        preexec = _drop_dac_override
    proc = run_cli(data_dir, "import", str(src), "--json", preexec_fn=preexec)
    secret.chmod(0o644)
    assert proc.returncode == 3, proc.stderr
    doc = json_doc(proc)
    assert doc["imported"] == 1
    assert [f["path"] for f in doc["failed"]] == [str(secret)]
    assert "permission denied" in doc["failed"][0]["error"]


def test_fifo_named_like_a_clip_does_not_hang(lib: Library, tmp_path: Path, data_dir: Path) -> None:
    src = tmp_path / "card"
    copy_to(lib.cat_morning, src / "a_cat.mp4")
    fifo = src / "b_pipe.mp4"
    os.mkfifo(fifo)
    copy_to(lib.rocket, src / "c_rocket.mp4")
    reached = threading.Event()  # the import got to the FIFO
    moved_on = threading.Event()  # ... and past it
    out: dict[str, Any] = {}

    def progress(p: Any) -> None:
        at_fifo = bool(p.current) and p.current.endswith("b_pipe.mp4")
        if at_fifo:
            reached.set()
        elif reached.is_set():
            moved_on.set()

    def run() -> None:
        out["result"] = _memory(data_dir).import_paths([src], progress=progress)
        moved_on.set()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    assert reached.wait(120), "the import never reached the FIFO"
    hung = not moved_on.wait(10)
    while t.is_alive():  # unblock it: a writer that closes at once gives the reader EOF
        with contextlib.suppress(OSError):
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        t.join(0.2)
    assert not hung, "the import hung on a FIFO"
    result = out["result"]
    assert result.imported == 2
    assert [f.path for f in result.failed] == [str(fifo)] or result.ignored == 1


# ------------------------------------------------------------- a file that goes away midway
@pytest.mark.parametrize("how", ["deleted after the walk", "dangling symlink"])
def test_missing_file_is_reported_as_missing(lib: Library, tmp_path: Path, data_dir: Path, how: str) -> None:
    src = tmp_path / "card"
    copy_to(lib.cat_morning, src / "a_cat.mp4")
    victim = src / "b_gone.mp4"
    if how == "dangling symlink":
        victim.symlink_to(tmp_path / "unplugged" / "clip.mp4")
    else:
        copy_to(lib.rocket, victim)
    copy_to(lib.cat_evening, src / "c_cat.mp4")

    def progress(p: Any) -> None:
        if p.stage == "hashing" and p.current and p.current.endswith("b_gone.mp4"):
            victim.unlink(missing_ok=True)  # unplugged between the walk and the import

    result = _memory(data_dir).import_paths([src], progress=progress)
    assert result.imported == 2
    assert [f.path for f in result.failed] == [str(victim)]
    reason = result.failed[0].error.lower()
    assert any(w in reason for w in ("disappeared", "no such file", "missing", "broken", "not found")), reason
    assert "permission" not in reason


# ------------------------------------------------------------------------ hostile names
NAMES = {
    "newline": "new\nline.jpg",
    "latin1": os.fsdecode(b"caf\xe9 cr\xe8me.jpg"),  # not UTF-8
    "quotes": "with spaces 'single' \"double\" $HOME `x`.jpg",
    "dash": "-starts-with-dash.jpg",
}
BAD_NAMES = {
    "bad_newline": "bad\nname.jpg",
    "bad_latin1": os.fsdecode(b"bad \xff\xfe.jpg"),
}


def test_hostile_names(lib: Library, tmp_path: Path, data_dir: Path, media: Any) -> None:
    from datetime import timedelta

    from lifelog.sample.compose import write_photo

    src = tmp_path / "card"
    src.mkdir()
    for i, name in enumerate(NAMES.values()):
        write_photo(src / name, media.path("coffee.png"), CAT_MORNING_AT + timedelta(minutes=i), max_side=320)
    half = lib.coffee_jpg.read_bytes()
    for i, name in enumerate(BAD_NAMES.values()):
        (src / name).write_bytes(half[: len(half) // 2 - i])
    before = fingerprint(src)

    proc = run_cli(data_dir, "import", str(src), "--json")
    assert proc.returncode == 3, proc.stderr
    doc = json_doc(proc)  # valid JSON even with undecodable names
    assert doc["imported"] == len(NAMES)
    assert len(doc["failed"]) == len(BAD_NAMES)
    for f in doc["failed"]:
        # one line, recognisably the file: its directory and the escaped name
        assert "\n" not in f["path"] and f["path"].startswith(str(src) + "/bad")
        assert "truncated" in f["error"] or "damaged" in f["error"]
    paths = sorted(f["path"] for f in doc["failed"])
    assert paths == sorted([str(src / "bad\\nname.jpg"), str(src / "bad \\xff\\xfe.jpg")])
    err = [ln for ln in proc.stderr.splitlines() if ln.startswith("lifelog: ")]
    assert len(err) == 2 and all("bad" in ln for ln in err)

    # Named one by one on the command line (after `--` for the dash, raw bytes for Latin-1).
    proc = run_cli(data_dir, "import", "--json", "--", NAMES["dash"], cwd=src)
    assert proc.returncode == 0, proc.stderr
    assert json_doc(proc)["skipped"] == 1
    proc = run_cli(data_dir, "import", "--json", os.fsencode(src / NAMES["latin1"]))
    assert proc.returncode == 0, proc.stderr
    assert json_doc(proc)["skipped"] == 1
    assert fingerprint(src) == before


# ------------------------------------------------------------------------------ disk full
def _fsize_limit(limit: int) -> Any:
    def pre() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return pre


def _disk_full_then_recover(src: Path, data: Path, proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    """Common checks after an import that ran out of space; then a run with space completes."""
    assert "Traceback" not in proc.stderr
    doc = json_doc(proc)
    n_files = len(list(src.iterdir()))
    assert doc["failed"], "the disk was full but nothing failed"
    assert proc.returncode == 3
    for f in doc["failed"]:
        assert DISK_FULL in f["error"], f
    assert doc["imported"] + len(doc["failed"]) == n_files
    # the earlier import is intact and answerable; nothing half-written is visible
    assert_consistent(data, allow_journalled=True)
    _readable(data)
    return doc


def test_disk_full_file_size_limit(lib: Library, tmp_path: Path, data_dir: Path) -> None:
    src = tmp_path / "card"
    for p in (lib.rocket, lib.coffee_jpg, lib.cat_evening):
        copy_to(p, src / p.name)
    assert _memory(data_dir).import_paths([lib.cat_morning]).imported == 1
    before = sorted(e["id"] for e in store_rows(data_dir, "episodes", ["id"]))

    proc = run_cli(data_dir, "import", str(src), "--json", preexec_fn=_fsize_limit(1500))
    doc = _disk_full_then_recover(src, data_dir, proc)
    assert doc["imported"] == 0
    assert sorted(e["id"] for e in store_rows(data_dir, "episodes", ["id"])) == before

    proc = run_cli(data_dir, "import", str(src), "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json_doc(proc)
    assert (doc["imported"], doc["failed"]) == (3, [])
    assert journal_entries(data_dir) == []
    assert_consistent(data_dir)
    assert len(store_rows(data_dir, "media", ["id"])) == 4




_SWEEP = textwrap.dedent(
    """
    import json, os, resource, shutil, signal, sys
    from pathlib import Path
    from lifelog.api import Memory

    base, src, out, mode = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4]
    points = [int(x) for x in sys.argv[5].split(",")]
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    results = []
    for point in points:
        d = out / f"at{point}"
        shutil.copytree(base, d)
        mem = Memory(d)
        filler = out / "filler"
        if mode == "fsize":  # writes past `point` bytes fail with EFBIG (soft limit: undone below)
            resource.setrlimit(resource.RLIMIT_FSIZE, (point, hard))
        else:  # fill the filesystem up to `point` free bytes: writes fail with ENOSPC
            st = os.statvfs(out)
            fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
            os.posix_fallocate(fd, 0, st.f_bavail * st.f_frsize - point)
            os.close(fd)
        try:
            r = mem.import_paths([src])
            results.append({"point": point, "imported": r.imported, "failed": [f.error for f in r.failed]})
        finally:
            resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
            filler.unlink(missing_ok=True)
    print(json.dumps(results))
    """
)


def _sweep(lib: Library, tmp_path: Path, out: Path, mode: str, points: list[int]) -> list[tuple[int, int, str]]:
    """Import rocket + coffee into copies of a memory holding the morning cat clip, with the
    disk running out at each of ``points``; return the points after which the memory broke."""
    src = tmp_path / "card"
    for p in (lib.rocket, lib.coffee_jpg):
        copy_to(p, src / p.name)
    base = tmp_path / "base"
    if not base.exists():
        assert _memory(base).import_paths([lib.cat_morning]).imported == 1
    proc = subprocess.run(
        [sys.executable, "-c", _SWEEP, str(base), str(src), str(out), mode, ",".join(map(str, points))],
        env=cli_env(), cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    broken = []
    results = json.loads(proc.stdout)
    assert any(rec["failed"] for rec in results), "the disk never ran out"
    for rec in results:
        for reason in rec["failed"]:
            assert DISK_FULL in reason, rec
        assert rec["imported"] + len(rec["failed"]) == 2, rec
        try:
            _readable(out / f"at{rec['point']}")
            assert_consistent(out / f"at{rec['point']}", allow_journalled=True)
        except Exception as e:
            broken.append((rec["point"], rec["imported"], str(e).splitlines()[0][:120]))
    return broken


def test_full_filesystem_at_any_point_never_loses_the_memory(lib: Library, tmp_path: Path) -> None:
    """Real ENOSPC with the free space ending at many different points of the import."""
    with tmpfs(tmp_path / "mnt", "16m") as mnt:
        points = list(range(4 << 10, 100 << 10, 16 << 10))
        broken = _sweep(lib, tmp_path, mnt, "enospc", points)
        assert broken == [], f"free space left after which the memory is unreadable: {broken}"
        # With space again, the next run rolls back what was left and imports the rest.
        for point in points:
            data = mnt / f"at{point}"
            result = _memory(data).import_paths([tmp_path / "card"])
            assert result.failed == [] and result.imported + result.skipped == 2
            assert journal_entries(data) == []
            assert_consistent(data)
            assert len(store_rows(data, "media", ["id"])) == 3
            _readable(data)


def test_file_size_limit_at_any_point_never_loses_the_memory(lib: Library, tmp_path: Path) -> None:
    """The file-size limit is swept so that the failing write lands at many different points."""
    broken = _sweep(lib, tmp_path, tmp_path / "out", "fsize", list(range(3000, 18001, 1000)))
    assert broken == [], f"file-size limits after which the memory is unreadable: {broken}"


# ---------------------------------------------------------------------------------- vault
def test_no_keyring_and_no_passphrase_refuses_and_writes_nothing(lib: Library, tmp_path: Path) -> None:
    data = tmp_path / "memory"
    env = cli_env(LIFELOG_PASSPHRASE=None, PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring")
    proc = run_cli(data, "import", str(lib.cat_morning), "--json", env=env)
    assert proc.returncode not in (0, 3)
    msg = error_line(proc)
    assert "LIFELOG_PASSPHRASE" in msg
    assert proc.stdout.strip() == ""
    written = list(data.rglob("*")) if data.exists() else []
    assert written == [], f"files written without a key: {written}"
