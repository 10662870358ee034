"""A transcript whose write was cut by a kill (its journal entry still there) is pending again,
so the next ``lifelog transcribe`` redoes it instead of rolling it back and moving on (found by
``bench/crash.py``: killed after the transcripts row, before the journal entry was removed)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa

from lifelog.speech.store import SPEECH_JOURNAL, pending_media
from lifelog.store.db import MEDIA_SCHEMA, TRANSCRIPT_SCHEMA, Store


def test_a_cut_transcript_write_is_pending_again(tmp_path: Path) -> None:
    store = Store(tmp_path)
    now = datetime(2024, 5, 14, 9, 0, tzinfo=UTC)
    media = [{"id": f"{i:032x}", "kind": "audio", "path": f"/x/{i}.wav", "capture_start": now, "has_audio": True}
             for i in (1, 2)]
    store.table("media").add(pa.Table.from_pylist(media, schema=MEDIA_SCHEMA))
    done = [{"media_id": m["id"], "status": "done", "done_at": now} for m in media]
    store.table("transcripts").add(pa.Table.from_pylist(done, schema=TRANSCRIPT_SCHEMA))
    assert pending_media(store) == []
    (tmp_path / SPEECH_JOURNAL).mkdir()
    (tmp_path / SPEECH_JOURNAL / media[1]["id"]).write_text("")  # killed before this was removed
    assert [m["id"] for m in pending_media(store)] == [media[1]["id"]]
