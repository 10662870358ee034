"""Words recall must understand (issue 16, #16 follow-up): real English words are never "corrected",
agent and activity nouns name the things they use, and places of water name the shores.

The words here are deliberately not those of the natural-question bench (no held-out question
was special-cased): they check the general rules in ``models/wordnet.py`` and ``answer._spelled``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from lifelog.paths import REPO_ROOT


# ------------------------------------------------------------------ the spelling fixer
@pytest.mark.parametrize("word", [
    "gardener",  # near "garden"
    "waiter",  # near "water", "wafer"
    "baker",  # near "bakery"
    "hiker",  # near "hike", "biker"
    "printing",  # near "printer"
    "sailors",  # a plural of a real word, near "tailors"
    "chemist",  # near "chest"
])
def test_a_real_english_word_is_never_corrected(models_ready: None, word: str) -> None:
    from lifelog.recall.answer import _spelled

    assert _spelled(word) == word
    assert _spelled(f"the {word}") == f"the {word}"


@pytest.mark.parametrize(("typo", "fixed"), [("umbrela", "umbrella"), ("accordian", "accordion")])
def test_a_misspelt_word_is_still_put_right(models_ready: None, typo: str, fixed: str) -> None:
    from lifelog.recall.answer import _spelled

    assert _spelled(typo) == fixed


@pytest.mark.parametrize("plural", ["buses", "boxes", "berries", "wolves", "tomatoes"])
def test_a_plural_of_a_real_word_is_never_corrected(models_ready: None, plural: str) -> None:
    from lifelog.recall.answer import _spelled

    assert _spelled(f"any {plural}") == f"any {plural}"  # not "abuse" for "any buses"


@pytest.mark.parametrize(("plural", "singular"), [("rockets", "rocket"), ("buses", "bus"), ("berries", "berry")])
def test_a_plural_names_what_its_singular_names(models_ready: None, plural: str, singular: str) -> None:
    """Asked in the plural, a thing is looked for as in the singular: the same labels, and the
    models can see it (never "nothing I can recognise in pictures" for "buses")."""
    from lifelog.recall.score import Scorer

    one, many = Scorer(singular), Scorer(plural)
    assert one.visible and many.visible
    best = max(one.label_weight, key=one.label_weight.__getitem__)
    assert best in many.label_weight, (best, sorted(many.label_weight))


def test_a_plural_that_names_something_itself_keeps_its_meaning(models_ready: None) -> None:
    from lifelog.recall.score import Scorer

    assert "sunglasses" in Scorer("glasses").label_weight  # spectacles, not only a glass to drink from
    assert Scorer("tennis").visible  # "tennis" is no plural of "tenni"


def test_the_english_word_list_comes_from_wordnet_at_set_up(models_ready: None) -> None:
    from lifelog.recall.scenes import english_words, is_english

    words = english_words()
    assert len(words) > 50_000  # every WordNet lemma's words, not the 1,000 classes' ones
    assert is_english("photographers") and is_english("went")  # plural, irregular form (verb.exc)
    assert not is_english("umbrela")


def test_without_the_word_list_the_fixer_still_works(models_ready: None, tmp_path: Path) -> None:
    from lifelog.recall.scenes import english_words

    assert english_words(tmp_path / "missing.json") == frozenset()


# ------------------------------------------------------------------ derived words from WordNet
@pytest.mark.parametrize(("word", "inside", "outside"), [
    ("guitarist", {"acoustic guitar", "electric guitar"}, {"grand piano"}),
    ("pianist", {"grand piano", "upright"}, {"acoustic guitar"}),
    ("swimmer", {"swimming trunks", "maillot"}, {"lakeside"}),
    ("swimming", {"swimming trunks", "bathing cap"}, {"mountain bike"}),
    ("photography", {"reflex camera", "Polaroid camera"}, {"tripod"}),
    ("bicyclist", {"mountain bike", "bicycle-built-for-two"}, {"car wheel", "paddlewheel", "potter's wheel"}),
    ("ocean", {"seashore", "lakeside"}, {"swimming trunks"}),
    ("lake", {"lakeside"}, {"boathouse"}),
])
def test_agent_activity_and_place_words_name_classes(models_ready: None, word: str, inside: set[str],
                                                     outside: set[str]) -> None:
    from lifelog.encoders import get_visual_encoder
    from lifelog.recall.scenes import load_wordnet, wordnet_path

    names = get_visual_encoder().label_names
    kinds = load_wordnet(names, wordnet_path())
    assert word in kinds, word
    labels = set(kinds[word].labels)
    assert inside <= labels, inside - labels
    assert not (outside & labels), outside & labels


def test_a_water_scene_word_is_answered_through_the_closure(models_ready: None) -> None:
    from lifelog.recall.score import Scorer

    named = {k for k, w in Scorer("lake").label_weight.items() if w >= 1.0}
    assert "lakeside" in named


def test_derivation_rules_on_wordnet_lines() -> None:
    """The derivation walk on three WordNet lines: an adjective that pertains to a noun leads to
    the person of that noun; a noun's link to a verb of another word is not followed."""
    sys.path.insert(0, str(REPO_ROOT / "models"))
    try:
        import wordnet as wnb
    finally:
        sys.path.remove(str(REPO_ROOT / "models"))
    nouns = wnb.parse_data(
        "00007846 03 n 01 person 0 000 | a human\n"
        "00030358 04 n 01 act 0 000 | something done\n"
        "10000001 18 n 01 lensman 0 002 @ 00007846 n 0000 + 10000002 n 0101 | takes pictures\n"
        "10000002 04 n 01 picturing 0 002 @ 00030358 n 0000 + 10000001 n 0101 | the act\n"
        "10000003 06 n 01 picturing_box 0 000 | a box for pictures\n"
        "10000004 06 n 01 rim 0 001 + 20000001 v 0101 | an edge\n"
        "10000005 18 n 01 rimmer 0 002 @ 00007846 n 0000 + 20000001 v 0101 | one who rolls\n"
    )
    verbs = wnb.parse_data("20000001 38 v 01 roll 0 001 + 10000005 n 0101 | move by turning\n")
    adjs = wnb.parse_data("30000001 01 a 01 picturish 0 001 \\ 10000002 n 0101 | relating to pictures\n")
    index = {"n": {"picturing": ["10000002"]}, "v": {}, "a": {"picturish": ["30000001"]}}
    rel = wnb.Related({"n": nouns, "v": verbs, "a": adjs}, index)
    assert {"lensman", "picturing"} <= rel.words(["10000003"])  # "-ing" modifier → the activity → its person
    assert rel.words(["10000004"]) == set()  # rim → roll: another word, not followed
    vocab = wnb.vocabulary(["10000001 18 n 02 lens_man 0 x_ray 0 000 | a\n"], ["went go\n"])
    assert {"lens", "man", "went", "go", "ray"} <= set(vocab) and "x" not in vocab


def test_the_built_file_has_the_vocabulary(models_ready: None) -> None:
    from lifelog.recall.scenes import wordnet_path

    doc = json.loads(wordnet_path().read_text())
    assert "vocabulary" in doc and "photographer" in doc["vocabulary"]
