"""Content exclusion and bystander protection (issue #13 parts 2 and 3), the image side.

A real import of a face (obama.jpg) and of a rendered card with a Luhn-valid number and an
e-mail address, with the privacy settings on and — the control — off: the card's lines are
neither stored nor indexed nor searchable, and their region and the stranger's face are blurred
in the stored thumbnails; with the settings off nothing is blurred and the card is found.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from io import BytesIO
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from lifelog.config import PrivacySettings, Settings
from lifelog.ingest.redact import blur_boxes
from lifelog.ocr.sensitive import has_card, luhn_ok, sensitive_kinds, sensitive_lines

CARD = "4539 1488 0343 6467"  # Luhn-valid (a test Visa number)
CARD_DIGITS = CARD.replace(" ", "")
EMAIL = "jane.doe@example.com"
T_FACE = datetime(2024, 6, 3, 9, 0, tzinfo=UTC)
T_CARD = datetime(2024, 6, 3, 12, 0, tzinfo=UTC)
T_LATER = datetime(2024, 6, 4, 9, 0, tzinfo=UTC)
FACE_ROI = [0.0, 0.0, 1.0, 0.55]  # the upper part of the portraits, where the face is


# --------------------------------------------------------------------------- the detector
@pytest.mark.parametrize(
    ("text", "kinds"),
    [
        ("4539 1488 0343 6467", {"card"}),
        ("4539148803436467", {"card"}),
        ("Card: 4111-1111-1111-1111 exp 12/27", {"card"}),
        ("4539 1488 0343 6468", set()),  # fails Luhn: an order number, not a card
        ("0000 0000 0000 0000", set()),  # Luhn-valid but no card
        ("jane.doe@example.com", {"email"}),
        ("write to info@bank.co.uk today", {"email"}),
        ("Call +44 20 7946 0958", {"phone"}),
        ("(555) 123-4567", {"phone"}),
        ("Your code is 482913", {"code"}),
        ("OTP: 4829 1377", {"code"}),
        ("Order 482913", set()),  # a number without a code word
        ("Open 9:00-17:30", set()),
        ("2024-06-03", set()),
        ("Price 12.99", set()),
        ("Est. 1998 code of conduct", set()),  # a year is no code
        ("DOUBLE PARKING PROHIBITED", set()),
    ],
)
def test_sensitive_kinds(text: str, kinds: set[str]) -> None:
    assert sensitive_kinds(text) == kinds


def test_luhn() -> None:
    assert luhn_ok("79927398713") and not luhn_ok("79927398710")
    assert not luhn_ok("") and not luhn_ok("12a4")
    assert has_card("pay with 5500 0000 0000 0004") and not has_card("5500 0000 0000 0005")


def test_user_words_whole_word_case_and_accents() -> None:
    words = ["password", "My Bank", "Crédit"]
    assert sensitive_kinds("PASSWORD: hunter2", words) == {"word"}
    assert sensitive_kinds("Welcome to MYBANK online", words) == {"word"}  # OCR dropped the space
    assert sensitive_kinds("my  bank", words) == {"word"}
    assert sensitive_kinds("CREDIT AGRICOLE", words) == {"word"}
    assert sensitive_kinds("passwords", words) == set() and sensitive_kinds("swordfish", words) == set()
    assert sensitive_kinds("PASSWORD", []) == set()


def test_code_on_the_line_under_its_caption() -> None:
    assert sensitive_lines(["Your verification code", "482 913", "Thanks"]) == [{"code"}, {"code"}, set()]
    assert sensitive_lines(["Room", "482913"]) == [set(), set()]


def test_settings_validate_and_default_on() -> None:
    s = Settings.model_validate({"version": 1})  # an existing memory without the section
    assert s.privacy.blur_bystanders and s.privacy.redact_sensitive_text and s.privacy.sensitive_words == []
    p = PrivacySettings(sensitive_words=["  my   bank ", "My Bank", "password"])
    assert p.sensitive_words == ["my bank", "password"]
    with pytest.raises(ValueError):
        PrivacySettings(sensitive_words=["x"])
    with pytest.raises(ValueError):
        Settings.model_validate({"privacy": {"blur_faces": True}})  # unknown key


def test_blur_boxes_flattens_the_box_only() -> None:
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (200, 300, 3), dtype=np.uint8)
    out = blur_boxes(rgb, [(0.5, 0.5, 0.2, 0.2)])
    assert out.shape == rgb.shape and out.dtype == np.uint8
    assert _var(out, (0.5, 0.5, 0.2, 0.2)) < 0.05 * _var(rgb, (0.5, 0.5, 0.2, 0.2))
    assert np.array_equal(out[:50, :100], rgb[:50, :100])  # far from the box: untouched
    assert np.array_equal(blur_boxes(rgb, []), rgb)


# --------------------------------------------------------------------------- a real import
def _var(rgb: np.ndarray[Any, Any], box: tuple[float, float, float, float]) -> float:
    h, w = rgb.shape[:2]
    x, y, bw, bh = box
    region = rgb[int(y * h): max(int(y * h) + 1, int((y + bh) * h)), int(x * w): max(int(x * w) + 1, int((x + bw) * w))]
    return float(region.astype(np.float64).mean(axis=2).var())


def _card_image() -> Image.Image:
    im = Image.new("RGB", (640, 480), (235, 235, 225))
    d = ImageDraw.Draw(im)
    font = ImageFont.load_default(size=40)
    d.text((30, 60), "WELCOME", fill=(20, 20, 20), font=font)
    d.text((30, 180), CARD, fill=(20, 20, 20), font=font)
    d.text((30, 300), EMAIL, fill=(20, 20, 20), font=font)
    return im


@pytest.fixture(scope="module")
def clips(media: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from lifelog.sample.compose import make_clip

    root = tmp_path_factory.mktemp("redaction-clips")
    return {
        "face": make_clip(root / "face.mp4", media.path("obama.jpg"), 12, T_FACE, fps=10, size=(640, 480),
                          effect="pan", roi=FACE_ROI),
        "card": make_clip(root / "card.mp4", _card_image(), 4, T_CARD, fps=10, size=(640, 480), effect="static"),
        "later": make_clip(root / "later.mp4", media.path("obama2.jpg"), 12, T_LATER, fps=10, size=(640, 480),
                           effect="pan", roi=FACE_ROI),
    }


def _open(root: Path, privacy: PrivacySettings) -> Any:
    from lifelog.api import Memory
    from lifelog.config import save_settings

    data = root / "memory"
    data.mkdir()
    save_settings(data, Settings(privacy=privacy))
    return Memory(data)


@pytest.fixture(scope="module")
def memories(clips: dict[str, Path], models_ready: None, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    on = _open(tmp_path_factory.mktemp("redaction-on"), PrivacySettings())
    off = _open(tmp_path_factory.mktemp("redaction-off"),
                PrivacySettings(blur_bystanders=False, redact_sensitive_text=False))
    for mem in (on, off):
        result = mem.import_paths([clips["face"], clips["card"]])
        assert result.imported == 2 and not result.failed, result.to_json()
    return {"on": on, "off": off}


def _frames(mem: Any, t0: datetime) -> list[dict[str, Any]]:
    from lifelog.store.sql import ts_literal

    mem.store.refresh()
    rows: list[dict[str, Any]] = mem.store.rows(
        "frames", f"t >= {ts_literal(t0)}", columns=["id", "t", "thumb_id"]).to_pylist()
    return [r for r in rows if r["t"] < t0.replace(hour=t0.hour + 1)]


def _thumb(mem: Any, thumb_id: str) -> np.ndarray[Any, Any]:
    return np.asarray(Image.open(BytesIO(mem.vault.get(thumb_id))).convert("RGB"))


def _ocr_texts(mem: Any) -> list[tuple[str, str, list[float]]]:
    rows = mem.store.rows("ocr", None, columns=["id", "frame_id", "text_enc", "box"]).to_pylist()
    return [(r["frame_id"], mem.vault.decrypt_text(r["text_enc"], f"ocr:{r['id']}"), r["box"]) for r in rows]


def test_card_and_email_lines_are_not_stored_nor_found(memories: dict[str, Any]) -> None:
    from lifelog.ocr.search import search_ocr

    on, off = memories["on"], memories["off"]
    on_texts = [t for _f, t, _b in _ocr_texts(on)]
    off_texts = [t for _f, t, _b in _ocr_texts(off)]
    assert any("WELCOME" in t for t in on_texts), on_texts  # the harmless line is still read and stored
    assert any(CARD_DIGITS in t.replace(" ", "") for t in off_texts), off_texts  # the control read the card
    assert any(EMAIL in t for t in off_texts), off_texts
    assert not any(CARD_DIGITS in t.replace(" ", "") or "@" in t for t in on_texts), on_texts
    # neither their text nor their blind-index terms: searching finds them only in the control
    assert search_ocr(off.store, off.vault, CARD_DIGITS) and search_ocr(off.store, off.vault, "jane doe example")
    assert search_ocr(on.store, on.vault, CARD_DIGITS) == []
    assert search_ocr(on.store, on.vault, "jane doe example") == []
    assert search_ocr(on.store, on.vault, "welcome")
    on_ids = {r["ocr_id"] for r in on.store.rows("ocr_terms", None, columns=["ocr_id"]).to_pylist()}
    assert on_ids <= {r["id"] for r in on.store.rows("ocr", None, columns=["id"]).to_pylist()}
    assert on.store.count("ocr_terms") < off.store.count("ocr_terms")
    ans = on.ask(f"where did I see {CARD_DIGITS}?")
    assert not any(CARD_DIGITS in str(e) for h in ans.hits for e in getattr(h, "evidence", [])), ans
    # and no byte of the memory holds them as text
    secrets = [CARD_DIGITS.encode(), CARD.encode(), EMAIL.encode(), b"jane.doe", b"example.com"]
    for p in on.data_dir.rglob("*"):
        if p.is_file():
            blob = p.read_bytes()
            assert not [s for s in secrets if s in blob], p


def test_card_region_is_blurred_in_the_thumbnail(memories: dict[str, Any]) -> None:
    on, off = memories["on"], memories["off"]
    boxes = {f: b for f, t, b in _ocr_texts(off) if CARD_DIGITS in t.replace(" ", "") or EMAIL in t}
    assert boxes
    for frame_id, box in boxes.items():
        box_t = (box[0], box[1], box[2], box[3])
        v_on = _var(_thumb(on, frame_id), box_t)
        v_off = _var(_thumb(off, frame_id), box_t)
        assert v_off > 300, v_off  # dark text on a light card: high variance in the clear
        assert v_on < 0.2 * v_off, (v_on, v_off)


def _face_boxes(mem: Any, frame_id: str) -> list[tuple[float, float, float, float]]:
    from lifelog.store.sql import sql_str

    rows = mem.store.rows("faces", f"frame_id = {sql_str(frame_id)}", columns=["box"]).to_pylist()
    return [tuple(r["box"]) for r in rows]


def _detects_face(rgb: np.ndarray[Any, Any]) -> bool:
    from lifelog.faces.analyze import find_faces

    big = np.asarray(Image.fromarray(rgb).resize((640, round(640 * rgb.shape[0] / rgb.shape[1]))))
    return find_faces(big, describe=False).detected > 0


def test_unnamed_face_is_blurred_in_the_thumbnail(memories: dict[str, Any]) -> None:
    on, off = memories["on"], memories["off"]
    frames = _frames(off, T_FACE)
    assert frames
    checked = 0
    for fr in frames:
        boxes = _face_boxes(off, fr["id"])
        if not boxes:
            continue
        checked += 1
        assert _face_boxes(on, fr["id"]) == boxes  # the face is still found, described and cropped
        clear, blurred = _thumb(off, fr["thumb_id"]), _thumb(on, fr["thumb_id"])
        for box in boxes:
            v_on, v_off = _var(blurred, box), _var(clear, box)
            assert v_on < 0.25 * v_off, (v_on, v_off)
        assert _detects_face(clear) and not _detects_face(blurred)
    assert checked
    # the crop the People page shows (to name someone) stays a face
    crop_id = on.store.rows("faces", None, columns=["crop_id"]).column("crop_id").to_pylist()[0]
    assert on.vault.get(crop_id)[:2] == b"\xff\xd8"


def test_naming_a_person_unblurs_their_future_pictures(memories: dict[str, Any], clips: dict[str, Path]) -> None:
    on = memories["on"]
    people = on.people()
    assert people
    on.name_person(people[0].id, "Barack")
    result = on.import_paths([clips["later"]])
    assert result.imported == 1, result.to_json()
    frames = [f for f in _frames(on, T_LATER) if _face_boxes(on, f["id"])]
    assert frames
    assert any(_detects_face(_thumb(on, f["thumb_id"])) for f in frames)
    for fr in _frames(on, T_FACE):  # pictures stored before stay blurred
        if _face_boxes(on, fr["id"]):
            assert not _detects_face(_thumb(on, fr["thumb_id"]))


def test_retention_of_strangers_faces(memories: dict[str, Any]) -> None:
    off = memories["off"]  # nobody is named in the control memory: every face is a stranger's
    faces = off.store.rows("faces", None, columns=["crop_id"]).column("crop_id").to_pylist()
    assert faces
    # kept 90 days by default, counted from the import (the footage itself is from 2024)
    soon = datetime.now(UTC) + timedelta(days=60)
    assert off.plan_retention(soon).counts()["stranger_faces"] == 0
    now = datetime.now(UTC) + timedelta(days=91)
    assert off.plan_retention(now).counts()["stranger_faces"] == len(faces)
    off.apply_retention(now)
    off.store.refresh()
    assert off.store.count("faces") == 0 and off.people() == []
    assert not any(off.vault.blob_path(c).exists() for c in faces)
    assert off.store.count("frames") > 0  # the moments themselves stay
