"""The encoders on real photos: labels a person would agree with, text that finds the photo.

Uses the real sample media fetched by ``python -m lifelog.sample.fetch`` (scikit-image's
"chelsea" cat and "coffee" photos); those tests are skipped with the reason when it is absent.
The models must be built (``bash packaging/setup.sh``); missing models fail loudly.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from lifelog.encoders import (
    ModelMissingError,
    TextEncoder,
    VisualBatch,
    VisualEncoder,
    get_text_encoder,
    get_visual_encoder,
)

CAT_CLASSES = {"tabby", "tiger cat", "Persian cat", "Siamese cat", "Egyptian cat"}
COFFEE_CLASSES = {"espresso", "cup", "coffee mug", "eggnog", "consomme"}


@pytest.fixture(scope="module")
def visual() -> VisualEncoder:
    try:
        return get_visual_encoder()
    except ModelMissingError as e:
        pytest.fail(f"models are not built: {e}")


@pytest.fixture(scope="module")
def text() -> TextEncoder:
    try:
        return get_text_encoder()
    except ModelMissingError as e:
        pytest.fail(f"models are not built: {e}")


def _load(name: str) -> np.ndarray:
    try:
        from lifelog.sample.fetch import SampleMediaUnavailable, sample_media
    except ImportError as e:  # pragma: no cover - the fetcher is part of the project
        pytest.skip(f"lifelog.sample.fetch unavailable: {e}")
    try:
        media = sample_media()
    except SampleMediaUnavailable as e:
        pytest.skip(f"real sample media unavailable: {e}")
    if not media.has(name):
        pytest.skip(f"sample media lacks {name} (run `python -m lifelog.sample.fetch`)")
    from PIL import Image

    with Image.open(media.path(name)) as im:
        return np.asarray(im.convert("RGB"))


@pytest.fixture(scope="module")
def cat() -> np.ndarray:
    return _load("chelsea.png")


@pytest.fixture(scope="module")
def coffee() -> np.ndarray:
    return _load("coffee.png")


@pytest.fixture(scope="module")
def encoded(visual: VisualEncoder, cat: np.ndarray, coffee: np.ndarray) -> VisualBatch:
    return visual.encode([cat, coffee])


@pytest.mark.media
def test_cat_photo_is_labelled_a_cat_and_coffee_photo_coffee(encoded: VisualBatch) -> None:
    cat_labels, coffee_labels = encoded.labels
    assert len(cat_labels) == 5 and len(coffee_labels) == 5
    assert cat_labels[0][0] in CAT_CLASSES, cat_labels
    assert sum(p for lemma, p in cat_labels if lemma in CAT_CLASSES) > 0.5, cat_labels
    assert {lemma for lemma, _ in coffee_labels[:2]} & COFFEE_CLASSES, coffee_labels
    for labels in encoded.labels:  # best first, real probabilities
        probs = [p for _, p in labels]
        assert probs == sorted(probs, reverse=True)
        assert all(0.0 <= p <= 1.0 for p in probs) and sum(probs) <= 1.0 + 1e-6


@pytest.mark.media
def test_text_query_finds_the_right_photo(text: TextEncoder, encoded: VisualBatch) -> None:
    queries = text.encode(["a cat", "a cup of coffee", "my kitten sleeping", "espresso at a café"])
    scores = queries @ encoded.semantic.T  # rows: queries, columns: [cat, coffee]
    assert scores[0, 0] > scores[0, 1], scores
    assert scores[1, 1] > scores[1, 0], scores
    assert scores[2, 0] > scores[2, 1], scores
    assert scores[3, 1] > scores[3, 0], scores


@pytest.mark.media
def test_features_know_a_noisy_copy_from_another_photo(
    visual: VisualEncoder, cat: np.ndarray, coffee: np.ndarray
) -> None:
    rng = np.random.default_rng(0)
    noisy = np.clip(cat.astype(np.int16) + rng.normal(0, 8, cat.shape), 0, 255).astype(np.uint8)
    cropped = cat[10:-10, 15:-15]
    b = visual.encode([cat, noisy, cropped, coffee])
    f = b.features
    assert f.shape == (4, 1280) and f.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(f, axis=1), 1.0, atol=1e-5)
    same_noisy, same_cropped, different = f[0] @ f[1], f[0] @ f[2], f[0] @ f[3]
    assert same_noisy > different + 0.5, (same_noisy, different)
    assert same_cropped > different + 0.5, (same_cropped, different)


@pytest.mark.media
def test_grayscale_and_rgba_photos_work(visual: VisualEncoder, cat: np.ndarray) -> None:
    gray = (cat.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)).astype(np.uint8)
    rgba = np.dstack([cat, np.full(cat.shape[:2], 255, dtype=np.uint8)])
    b = visual.encode([cat, gray, gray[:, :, None], rgba])
    assert b.features.shape == (4, 1280) and b.semantic.shape == (4, 384)
    np.testing.assert_allclose(b.features[3], b.features[0], atol=1e-6)  # alpha is dropped
    np.testing.assert_allclose(b.features[1], b.features[2], atol=1e-6)
    assert b.features[1] @ b.features[0] > 0.7
    assert {lemma for lemma, _ in b.labels[1][:3]} & CAT_CLASSES, b.labels[1]


def test_text_vectors_are_normalised_and_batch_independent(text: TextEncoder) -> None:
    sentences = ["a cat", "", "the kitchen, in the morning", "word " * 1000]  # the last one is truncated
    v = text.encode(sentences)
    assert v.shape == (4, 384) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    alone = np.vstack([text.encode([s]) for s in sentences])
    np.testing.assert_allclose(v, alone, atol=1e-5)  # padding in a batch changes nothing
    assert text.encode([]).shape == (0, 384)
    similar = text.encode(["a photo of a cat", "a kitten", "a tax return form"])
    assert similar[0] @ similar[1] > similar[0] @ similar[2]


def test_semantic_vectors_live_in_the_text_space(visual: VisualEncoder, text: TextEncoder) -> None:
    assert len(visual.label_names) == 1000 and visual.label_vectors.shape == (1000, text.dim)
    np.testing.assert_allclose(np.linalg.norm(visual.label_vectors, axis=1), 1.0, atol=1e-5)
    tabby = visual.label_names.index("tabby")
    q = text.encode(["tabby, tabby cat: a cat with a grey or tawny coat mottled with black"])[0]
    assert int(np.argmax(visual.label_vectors @ q)) == tabby  # built with this very encoder


@pytest.mark.media
def test_semantic_vector_is_the_probability_weighted_label_mix(cat: np.ndarray) -> None:
    from lifelog.paths import models_dir

    enc1 = VisualEncoder(models_dir=models_dir(), top_k=1)
    enc10 = VisualEncoder(models_dir=models_dir(), top_k=10)
    one, ten = enc1.encode([cat]), enc10.encode([cat])
    top = enc1.label_names.index(one.labels[0][0][0])
    np.testing.assert_allclose(one.semantic[0], enc1.label_vectors[top], atol=1e-5)  # top-1: that label
    assert enc1.version != enc10.version  # the mix depends on k, and so does the version
    assert 0.8 < float(one.semantic[0] @ ten.semantic[0]) < 1.0


def test_any_image_size_and_empty_input(visual: VisualEncoder) -> None:
    rng = np.random.default_rng(1)
    shapes = [(17, 900, 3), (1080, 1920, 3), (5, 5)]
    images = [rng.integers(0, 256, shape, dtype=np.uint8) for shape in shapes]
    images += [images[0]] * 15  # more than one internal batch of 16
    b = visual.encode(images)
    assert b.features.shape == (18, 1280) and b.semantic.shape == (18, 384) and len(b.labels) == 18
    np.testing.assert_allclose(b.features[3], b.features[0], atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(b.semantic, axis=1), 1.0, atol=1e-5)
    empty = visual.encode([])
    assert empty.features.shape == (0, 1280) and empty.semantic.shape == (0, 384) and empty.labels == []
    with pytest.raises(ValueError):
        visual.encode([np.zeros((10, 10, 2), dtype=np.uint8)])
    with pytest.raises(ValueError):
        visual.encode([np.zeros((10, 10, 3), dtype=np.float32)])


def test_versions_name_the_model_files(visual: VisualEncoder, text: TextEncoder) -> None:
    assert visual.name == "efficientnet-lite0-conse" and text.name == "all-minilm-l6-v2"
    assert len(text.version.split("-")[1]) == 12
    assert visual.version.startswith("onnx-") and "-labels-" in visual.version


def test_shared_encoders_are_created_once_across_threads() -> None:
    got: list[object] = []
    threads = [threading.Thread(target=lambda: got.append(get_text_encoder())) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(x) for x in got}) == 1
    assert get_visual_encoder() is get_visual_encoder()


def test_missing_models_say_how_to_fix_it(tmp_path: Path) -> None:
    for make in (TextEncoder, VisualEncoder):
        with pytest.raises(ModelMissingError) as info:
            make(models_dir=tmp_path / "nowhere")
        msg = str(info.value)
        assert "bash packaging/setup.sh" in msg
        assert "nowhere" in msg and ".onnx" in msg


def test_corrupt_model_file_is_reported_as_such(tmp_path: Path) -> None:
    from lifelog.encoders import ort_session

    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(ModelMissingError, match="could not be loaded"):
        ort_session(bad)
