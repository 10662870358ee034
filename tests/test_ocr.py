"""Text in images: real signs read during a real import, found by the blind index, never stored plain."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from lifelog.encoders.analyzers import FrameInput
from lifelog.ocr.analyzers import OcrAnalyzer, ocr_analyzers
from lifelog.ocr.read import MIN_SCORE, get_engine, read_text
from lifelog.ocr.search import ocr_episode_hits, search_ocr
from lifelog.store.db import Store
from lifelog.store.vault import Vault

T_SIGN = datetime(2024, 6, 3, 9, 0, tzinfo=UTC)
T_CAMPUS = datetime(2024, 6, 3, 14, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def memory(media: Any, tmp_path_factory: pytest.TempPathFactory) -> tuple[Store, Vault, Path, dict[str, str]]:
    from lifelog.config import Settings
    from lifelog.ingest.pipeline import Importer
    from lifelog.sample.compose import make_clip

    root = tmp_path_factory.mktemp("ocr")
    clips = {
        "sign": make_clip(
            root / "sign.mp4", media.path("scenetext01.jpg"), 4, T_SIGN, fps=10, size=(640, 480), effect="static"
        ),
        "campus": make_clip(
            root / "campus.mp4", media.path("scenetext02.jpg"), 4, T_CAMPUS, fps=10, size=(640, 480), effect="static"
        ),
    }
    data = root / "memory"
    data.mkdir()
    store, vault = Store(data), Vault.open(data, passphrase="p")
    result = Importer(store, vault, Settings(), analyzers=ocr_analyzers(vault)).run(list(clips.values()))
    assert not result.warnings, result.warnings
    episodes = {}
    for name, start in (("sign", T_SIGN), ("campus", T_CAMPUS)):
        rows = store.rows("episodes", None, columns=["id", "start"]).to_pylist()
        episodes[name] = next(r["id"] for r in rows if r["start"] == start)
    return store, vault, data, episodes


def test_sign_words_are_found_in_the_right_episode_and_time(memory: tuple[Store, Vault, Path, dict[str, str]]) -> None:
    store, vault, _data, episodes = memory
    hits = search_ocr(store, vault, "double parking prohibited")  # three lines of one sign
    assert hits
    for _oid, ep, t, text, score in hits:
        assert ep == episodes["sign"]
        assert T_SIGN <= t < T_SIGN + timedelta(seconds=4)
        assert {"DOUBLE", "PARKING", "PROHIBITED"} <= set(text.replace("/", " ").split()), text
        assert score >= MIN_SCORE
    assert search_ocr(store, vault, "Notice")[0][1] == episodes["sign"]  # case-insensitive
    campus = search_ocr(store, vault, ["sports", "centres"])  # plural folded like speech
    assert campus and all(h[1] == episodes["campus"] for h in campus)
    assert "Sports Centre" in campus[0][3]
    # all words must match; the time window filters
    assert search_ocr(store, vault, "parking conference") == []  # on different signs
    assert search_ocr(store, vault, "car parks") and all(
        h[1] == episodes["campus"] for h in search_ocr(store, vault, "car parks")
    )
    assert search_ocr(store, vault, "notice", window=(T_CAMPUS, None)) == []
    assert search_ocr(store, vault, "notice", window=(T_SIGN, T_SIGN + timedelta(minutes=1)))
    assert search_ocr(store, vault, "the") == []  # only stop words: nothing


def test_episode_hits_for_recall(memory: tuple[Store, Vault, Path, dict[str, str]]) -> None:
    store, vault, _data, episodes = memory
    hits = ocr_episode_hits(store, vault, "the double parking sign", None)
    assert hits[0][0] == episodes["sign"]
    _ep, score, evidence, t = hits[0]
    assert 0.5 <= score <= 1.0 and "PARKING" in evidence and T_SIGN <= t < T_SIGN + timedelta(seconds=4)
    assert ocr_episode_hits(store, vault, "conference centre", (T_SIGN, T_CAMPUS)) == []
    assert [h[0] for h in ocr_episode_hits(store, vault, "conference centre", None)] == [episodes["campus"]]


def test_no_plaintext_of_the_signs_on_disk(memory: tuple[Store, Vault, Path, dict[str, str]]) -> None:
    store, _vault, data, _episodes = memory
    assert store.count("ocr") > 0 and store.count("ocr_terms") > 0
    secrets = [
        b"PROHIBITED",
        b"prohibited",
        b"Prohibited",
        b"DOUBLE PARKING",
        b"Sports Centre",
        b"sports",
        b"Conference",
        b"conference",
        b"Wiven",
        b"NOTICE",
        b"notice",
    ]
    for p in data.rglob("*"):
        if p.is_file():
            blob = p.read_bytes()
            found = [s for s in secrets if s in blob]
            assert not found, f"{p}: {found}"


def test_frame_without_text_gives_no_rows(media: Any, data_dir: Path) -> None:
    vault = Vault.open(data_dir, passphrase="p")
    cat = np.asarray(Image.open(media.path("chelsea.png")).convert("RGB"))
    assert read_text(cat, get_engine()) == []
    analyzer = OcrAnalyzer(vault)
    rows = analyzer.analyze([FrameInput("ab" * 8 + "-00000", T_SIGN, cat)])
    assert rows == [] and analyzer.terms.analyze([FrameInput("ab" * 8 + "-00000", T_SIGN, cat)]) == []
    assert analyzer.stats.frames == 1 and analyzer.stats.frames_with_text == 0


def test_terms_analyzer_must_follow_its_ocr_analyzer(data_dir: Path) -> None:
    vault = Vault.open(data_dir, passphrase="p")
    _ocr, terms = ocr_analyzers(vault)
    with pytest.raises(RuntimeError):
        terms.analyze([FrameInput("cd" * 8 + "-00000", T_SIGN, np.zeros((48, 64, 3), np.uint8))])


def test_rollback_removes_text_and_index(media: Any, data_dir: Path, tmp_path: Path) -> None:
    from lifelog.config import Settings
    from lifelog.ingest.pipeline import Importer, remove_media_rows
    from lifelog.sample.compose import make_clip

    clip = make_clip(
        tmp_path / "s.mp4", media.path("scenetext01.jpg"), 2, T_SIGN, fps=10, size=(640, 480), effect="static"
    )
    store, vault = Store(data_dir), Vault.open(data_dir, passphrase="p")
    Importer(store, vault, Settings(), analyzers=ocr_analyzers(vault)).run([clip])
    (mid,) = store.rows("media", None, columns=["id"]).column("id").to_pylist()
    assert store.count("ocr") > 0 and store.count("ocr_terms") > 0
    remove_media_rows(store, vault, mid)
    assert store.count("ocr") == 0 and store.count("ocr_terms") == 0
