"""Issue #15's last target: answers look people up in one batched read (``People.brief``,
``People.find_ids``, names decrypted once per vault and ciphertext), and a people edit describes
again only the episodes the edited people appear in.

One memory from real media: the same face in two episodes, another face in a third, a cat in a
fourth. The tests run in file order.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

T1 = datetime(2024, 5, 14, 9, 0, tzinfo=UTC)
T2 = datetime(2024, 5, 14, 15, 0, tzinfo=UTC)
T3 = datetime(2024, 5, 15, 11, 0, tzinfo=UTC)
T4 = datetime(2024, 5, 16, 19, 0, tzinfo=UTC)

pytestmark = [pytest.mark.media, pytest.mark.slow]


@pytest.fixture(scope="module")
def memory(tmp_path_factory: pytest.TempPathFactory, media: Any, models_ready: None) -> dict[str, Any]:
    from lifelog.api import Memory
    from lifelog.sample.compose import make_clip  # test data only

    root = tmp_path_factory.mktemp("people_fast")
    face = [0.0, 0.0, 1.0, 0.55]
    files = [
        make_clip(root / "a.mp4", media.path("obama.jpg"), 12, T1, fps=10, size=(640, 480), roi=face),
        make_clip(root / "b.mp4", media.path("obama2.jpg"), 8, T2, fps=10, size=(640, 480), roi=face),
        make_clip(root / "c.mp4", media.path("biden.jpg"), 8, T3, fps=10, size=(640, 480), roi=[0.0, 0.0, 1.0, 0.3]),
        make_clip(root / "d.mp4", media.path("chelsea.png"), 4, T4, fps=10, size=(320, 240)),
    ]
    mem = Memory(root / "memory")
    assert mem.import_paths(files).imported == len(files)
    people = mem.people()
    barack = max(people, key=lambda p: p.episodes)
    assert barack.episodes == 2, people
    other = next(p for p in people if p.id != barack.id)
    return {"mem": mem, "barack": barack.id, "other": other.id}


def _notes(mem: Any) -> dict[str, tuple[Any, Any]]:
    rows = mem.store.rows("notes", "kind = 'episode'", columns=["subject", "text_enc", "updated_at"]).to_pylist()
    return {r["subject"]: (r["text_enc"], r["updated_at"]) for r in rows}


def test_naming_describes_again_only_the_episodes_the_person_is_in(memory: dict[str, Any]) -> None:
    from lifelog.store.lock import write_lock
    from lifelog.store.notes import delete_notes, episode_note_id

    mem, pid = memory["mem"], memory["barack"]
    theirs = set(mem.store.rows("faces", f"person_id = '{pid}'", columns=["episode_id"]).column("episode_id")
                 .to_pylist())
    eps = {e.id for e in mem.episodes()}
    assert len(theirs) == 2 and len(eps) == 4
    stale = next(e for e in eps - theirs if e != next(iter(eps - theirs)))  # one of the other two
    with write_lock(mem.data_dir):  # an episode whose description is out of date (none at all)
        delete_notes(mem.store, [episode_note_id(stale)])
    before = _notes(mem)
    assert stale not in before and theirs <= set(before)

    mem.name_person(pid, "Barack Quetzalcoatl")

    after = _notes(mem)
    changed = {ep for ep in after if after[ep] != before.get(ep)}
    assert changed == theirs, "exactly the named person's episodes were described again"
    assert stale not in after, "an episode without the person was not described (not every episode)"
    for ep in eps - theirs - {stale}:
        assert after[ep] == before[ep], "other episodes' stored ciphertext and time untouched"
    by_id = {e.id: e for e in mem.episodes()}
    assert all("Barack Quetzalcoatl" in (by_id[ep].description or "") for ep in theirs)
    assert mem.describe_episodes() >= 1  # the nightly pass still brings the stale one up to date
    assert stale in _notes(mem)


def test_hide_and_undo_describe_only_their_episodes(memory: dict[str, Any]) -> None:
    mem, other = memory["mem"], memory["other"]
    before = _notes(mem)
    mem.name_person(other, "Joe Tlaloc")
    mid = _notes(mem)
    theirs = {ep for ep in mid if mid[ep] != before.get(ep)}
    assert len(theirs) == 1
    assert "Joe Tlaloc" in next(e.description or "" for e in mem.episodes() if e.id in theirs)
    mem.hide_person(other)
    hidden = _notes(mem)
    assert {ep for ep in hidden if hidden[ep] != mid[ep]} == theirs
    assert "Joe Tlaloc" not in next(e.description or "" for e in mem.episodes() if e.id in theirs)
    mem.undo_people_edit()
    back = _notes(mem)
    assert {ep for ep in back if back[ep] != hidden[ep]} == theirs
    assert "Joe Tlaloc" in next(e.description or "" for e in mem.episodes() if e.id in theirs)
    assert mem.describe_episodes() == 0, "nothing was left out of date"


def test_brief_matches_the_full_lookup_and_names_follow_renames(memory: dict[str, Any]) -> None:
    from lifelog.people.service import People

    mem = memory["mem"]
    people = People(mem.store, mem.vault)
    ids = [p.id for p in people.list(include_hidden=True)]
    brief = people.brief([*ids, "nobody"])
    assert set(brief) == set(ids), "unknown ids are absent"
    for pid in ids:
        full = people.get(pid)
        assert (brief[pid].name, brief[pid].thumbnail, brief[pid].hidden) == (full.name, full.thumbnail, full.hidden)
    pid = memory["barack"]
    assert people.find_ids("barack") == [(pid, "Barack Quetzalcoatl")]
    mem.name_person(pid, "Sam Jones")  # a rename: a new ciphertext, never the cached old name
    people = People(mem.store, mem.vault)
    assert people.find_ids("barack") == []
    assert people.find_ids("sam") == [(pid, "Sam Jones")]
    assert (pid, "Sam Jones") in people.names()
    assert people.brief([pid])[pid].name == "Sam Jones"


def test_merged_person_is_not_offered_to_name(memory: dict[str, Any]) -> None:
    from lifelog.people.service import People

    mem = memory["mem"]
    gone = mem.split_person(memory["barack"], [mem.person_faces(memory["barack"])[-1].id])
    before = _notes(mem)
    mem.merge_people(memory["barack"], gone.id)
    after = _notes(mem)
    theirs = set(mem.store.rows("faces", f"person_id = '{memory['barack']}'", columns=["episode_id"])
                 .column("episode_id").to_pylist())
    assert {ep for ep in after if after[ep] != before.get(ep)} <= theirs
    assert gone.id not in People(mem.store, mem.vault).brief([gone.id])
