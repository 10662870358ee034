"""Issue #20, a gap a verifier found: the nightly pass cleans the vault's orphan temporary files.

A killed vault write leaves ``vault/blobs/<shard>/.tmp-*`` (ciphertext of a picture that was never
committed). The importer removes them when it takes the write lock; the nightly maintenance pass
must too, since a memory may see no import for weeks. Here real blobs of a real import sit next
to planted debris; a real ``lifelog consolidate`` removes the debris and nothing else.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
from helpers import json_doc, run_cli

pytestmark = [pytest.mark.media]


def test_the_nightly_pass_removes_orphan_vault_temp_files(data_dir: Path, media: Any, models_ready: None,
                                                           tmp_path: Path) -> None:
    from lifelog.api import Memory
    from lifelog.store.blind_index import INDEX_KEY_BLOB

    photo = tmp_path / "obama.jpg"
    shutil.copyfile(media.path("obama.jpg"), photo)
    mem = Memory(data_dir)
    assert mem.import_paths([photo]).imported == 1
    blobs = data_dir / "vault" / "blobs"
    real = sorted(blobs.rglob("*.bin"))
    assert real
    # debris of killed writes: next to a real blob, in a shard of its own, in the index key's shard
    planted = [real[0].parent / ".tmp-killed-thumb", blobs / "ff" / ".tmp-killed-crop",
               mem.vault.blob_path(INDEX_KEY_BLOB).parent / ".tmp-killed-key"]
    hour_ago = time.time() - 3600
    for p in planted:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(real[0].read_bytes()[: 4096])
        os.utime(p, (hour_ago, hour_ago))
    before = {p: p.read_bytes() for p in real}
    del mem

    proc = run_cli(data_dir, "consolidate", "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json_doc(proc)
    first = doc["steps"][0]
    assert first["name"] == "retention" and first["figures"]["temp_files_removed"] == len(planted), first
    assert not list(data_dir.rglob(".tmp-*")), "every orphan temporary file is gone"
    # no committed blob was touched (a face crop may go by the strangers' retention rule, which is the pass's job)
    kept = [p for p in real if p.exists()]
    assert kept and {p: p.read_bytes() for p in kept} == {p: before[p] for p in kept}
    # the memory still shows its picture
    again = Memory(data_dir)
    ep = again.episodes()[0]
    thumb = next(f.thumb_id for f in again.episode_frames(ep.id) if f.thumb_id)
    assert again.vault.get(thumb)[:3] == b"\xff\xd8\xff"
