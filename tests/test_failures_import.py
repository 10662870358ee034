"""Issue #20 (outside audit), the import side: what a killed import leaves behind is rolled back
*and said*, its orphan vault temporary files are cleaned, a locked memory exits 2 as
docs/cli.md says, and a decompression-bomb image gets a reason in words.

All of it is real: real processes killed with SIGKILL in the middle of a vault write, a real
second writer holding the lock, a real PNG bomb and the real CLI.
"""

from __future__ import annotations

import hashlib
import os
import struct
import subprocess
import sys
import textwrap
import time
import zlib
from pathlib import Path
from typing import Any

import pytest
from helpers import Library, cli_env, copy_to, journal_entries, json_doc, library, run_cli, store_rows

from lifelog.paths import REPO_ROOT

pytestmark = pytest.mark.usefixtures("models_ready")


@pytest.fixture(scope="module")
def lib(tmp_path_factory: pytest.TempPathFactory, media: Any) -> Library:
    return library(tmp_path_factory, media)


def _hash(path: Path) -> str:
    from lifelog.ingest.media import content_hash

    return content_hash(path)


# The import of the second file is killed (SIGKILL, as a power cut) while the vault is in the
# middle of writing one of its thumbnails: the temporary file is written, not yet renamed.
_KILL_IN_VAULT_WRITE = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path

    data, victim = sys.argv[1], sys.argv[2]
    files = [Path(p) for p in sys.argv[3:]]
    real_replace = os.replace

    def replace(src, dst, *a, **kw):
        d = Path(dst)
        if d.parent.parent.name == "blobs" and d.name.startswith(victim):
            os.kill(os.getpid(), signal.SIGKILL)
        return real_replace(src, dst, *a, **kw)

    os.replace = replace
    from lifelog.api import Memory
    Memory(data).import_paths(files)
    """
)


def _blobs(data: Path) -> dict[str, str]:
    root = data / "vault" / "blobs"
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in root.rglob("*.bin")}


def _temps(data: Path) -> list[str]:
    root = data / "vault" / "blobs"
    return sorted(str(p.relative_to(root)) for p in root.rglob(".tmp-*"))


@pytest.fixture
def killed_in_vault_write(lib: Library, tmp_path: Path) -> tuple[Path, Path, Path]:
    """A memory whose import of ``rocket`` was killed mid vault write (cat was committed)."""
    src = tmp_path / "src"
    cat = copy_to(lib.cat_morning, src / "a_cat.mp4")
    rocket = copy_to(lib.rocket, src / "b_rocket.mp4")
    data = tmp_path / "memory"
    proc = subprocess.run(
        [sys.executable, "-c", _KILL_IN_VAULT_WRITE, str(data), _hash(rocket), str(cat), str(rocket)],
        env=cli_env(), cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == -9, proc.stderr
    assert journal_entries(data) == [_hash(rocket)]
    assert [t for t in _temps(data) if t.startswith(_hash(rocket)[:2] + "/")], "no temporary file was left"
    return data, cat, rocket


def test_rolled_back_import_is_reported_and_orphan_temp_files_are_cleaned(
    killed_in_vault_write: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    from lifelog.store.blind_index import INDEX_KEY_BLOB

    data, cat, rocket = killed_in_vault_write
    blobs = data / "vault" / "blobs"
    key_dir = blobs / INDEX_KEY_BLOB[:2]
    # More debris of killed writes, in a folder of committed blobs and in a folder of its own.
    some_shard = next(p for p in sorted(blobs.iterdir()) if p != key_dir and any(p.glob("*.bin")))
    (some_shard / ".tmp-k1ll3d_a").write_bytes(os.urandom(3000))
    (blobs / "ff").mkdir(exist_ok=True)
    (blobs / "ff" / ".tmp-k1ll3d_b").write_bytes(os.urandom(10))
    # The blind-index key is the one blob written without the write lock (by whichever process
    # needs it first): a young temporary file next to it may be that write, in progress now.
    key_dir.mkdir(exist_ok=True)
    young, old = key_dir / ".tmp-0123456789abcdef", key_dir / ".tmp-fedcba9876543210"
    young.write_bytes(b"x")
    old.write_bytes(b"y")
    an_hour_ago = time.time() - 3600
    os.utime(old, (an_hour_ago, an_hour_ago))
    committed = _blobs(data)
    assert committed, "the committed clip has thumbnails in the vault"

    proc = run_cli(data, "import", str(rocket), "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json_doc(proc)
    assert doc["imported"] == 1 and doc["rolled_back"] == [str(rocket)], doc
    assert f"rolled back the unfinished import of {rocket}" in proc.stderr, proc.stderr
    assert journal_entries(data) == []

    # Every temporary file of a killed write is gone; a young one next to the key is spared.
    assert _temps(data) == [str(young.relative_to(blobs))], _temps(data)
    # The committed blobs are untouched (same bytes), and the new file's thumbnails were added.
    after = _blobs(data)
    assert {k: after.get(k) for k in committed} == committed
    assert len(after) > len(committed)
    # ... and they still decrypt (nothing was overwritten by the clean-up).
    frames = store_rows(data, "frames", ["thumb_id", "media_id"])
    from lifelog.api import Memory

    mem = Memory(data)
    for f in frames:
        assert mem.thumbnail(f["thumb_id"]).startswith(b"\xff\xd8")

    # The next run has nothing to roll back and says nothing about it.
    proc = run_cli(data, "import", str(cat), "--json")
    assert proc.returncode == 0, proc.stderr
    assert json_doc(proc)["rolled_back"] == [] and "rolled back" not in proc.stderr


def test_rolled_back_import_is_said_in_the_human_output_too(
    killed_in_vault_write: tuple[Path, Path, Path]
) -> None:
    data, cat, rocket = killed_in_vault_write
    proc = run_cli(data, "import", str(cat))  # not the file that was cut short
    assert proc.returncode == 0, proc.stderr
    assert f"rolled back the unfinished import of {rocket}" in proc.stderr, proc.stderr
    assert "skipped 1" in proc.stdout
    assert _hash(rocket) not in {m["id"] for m in store_rows(data, "media", ["id"])}


# ------------------------------------------------------------------------ locked memory
def test_memory_locked_by_another_writer_exits_2(lib: Library, tmp_path: Path, data_dir: Path) -> None:
    """docs/cli.md: "2 usage or locked memory"."""
    src = copy_to(lib.cat_morning, tmp_path / "src" / "cat.mp4")
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys,time; from pathlib import Path; from lifelog.store.lock import write_lock\n"
         "with write_lock(Path(sys.argv[1])):\n print('locked', flush=True); time.sleep(120)", str(data_dir)],
        stdout=subprocess.PIPE, text=True, env=cli_env(),
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        proc = run_cli(data_dir, "import", str(src), "--json")
        assert proc.returncode == 2, proc.stderr
        assert "Traceback" not in proc.stderr and "another lifelog process is writing" in proc.stderr
        proc = run_cli(data_dir, "import", str(src))
        assert proc.returncode == 2, proc.stderr
    finally:
        holder.kill()
        holder.wait()
    proc = run_cli(data_dir, "import", str(src), "--json")
    assert proc.returncode == 0, proc.stderr


# ------------------------------------------------------------------------------- bomb
def _png_bomb(path: Path, width: int, height: int) -> Path:
    """A real, valid 1-bit PNG of ``width`` x ``height`` white pixels: a few KB on disk."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\x00" + b"\xff" * ((width + 7) // 8)
    z = zlib.compressobj(9)
    idat = b"".join(z.compress(row) for _ in range(height)) + z.flush()
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0))
        + chunk(b"IDAT", idat)
        + chunk(b"IEND", b"")
    )
    return path


def test_decompression_bomb_gets_a_reason_in_words(lib: Library, tmp_path: Path, data_dir: Path) -> None:
    from PIL import Image

    (tmp_path / "src").mkdir()
    bomb = _png_bomb(tmp_path / "src" / "huge.png", 20000, 20000)
    assert bomb.stat().st_size < 1 << 20
    with pytest.raises(Image.DecompressionBombError):
        Image.open(bomb)
    good = copy_to(lib.coffee_jpg, tmp_path / "src" / "coffee.jpg")
    proc = run_cli(data_dir, "import", str(tmp_path / "src"), "--json")
    assert proc.returncode == 3, proc.stderr
    doc = json_doc(proc)
    assert doc["imported"] == 1, doc
    [fail] = doc["failed"]
    assert fail["path"] == str(bomb)
    limit = 2 * (Image.MAX_IMAGE_PIXELS or 0) / 1e6
    assert fail["error"] == f"image too large: 400 megapixels, more than the limit of {limit:.0f}", fail
    assert "Decompression" not in proc.stdout + proc.stderr and "DOS" not in proc.stdout + proc.stderr
    assert good.exists()
