"""The answer sentence reads as a reply to the question the user typed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from lifelog.recall.answer import Hit, _sentence
from lifelog.recall.parse import parse_question

NOW = datetime(2024, 5, 15, 22, 0, tzinfo=UTC)
HIT = Hit("ep", NOW - timedelta(hours=2), NOW - timedelta(hours=2) + timedelta(seconds=12), 0.9)


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("when did I last see a cat?", "You last saw a cat today at 20:00."),
        ("Where did I leave my keys?", "You saw your keys today at 20:00."),
        ("did I see a motorcycle today?", "Yes, you saw a motorcycle today at 20:00."),
        ("when did I first see the Eiffel Tower", "You first saw the Eiffel Tower today at 20:00."),
        ("when did I last see cats", "You last saw cats today at 20:00."),
    ],
)
def test_the_answer_keeps_the_words_of_the_question(question: str, expected: str) -> None:
    pq = parse_question(question, NOW, UTC)
    assert _sentence(pq, [HIT], None, NOW) == expected


def test_nothing_found_names_what_was_asked() -> None:
    pq = parse_question("when did I last go skiing?", NOW, UTC)
    assert _sentence(pq, [], None, NOW) == "I found no skiing in your memory."


def test_counts_read_as_a_reply() -> None:
    pq = parse_question("how many times did I see a cat this week?", NOW, UTC)
    assert _sentence(pq, [HIT], 4, NOW) == "You saw a cat 4 times this week."
    pq = parse_question("how many days this week did I see my mug?", NOW, UTC)
    assert _sentence(pq, [HIT], 1, NOW) == "You saw your mug on 1 day this week."
