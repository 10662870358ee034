"""Reading what the user typed, for the front ends: a moment given as text (``--now``, a
date in a box) and the name of an everyday object ("mug", "my phone")."""

from __future__ import annotations

from lifelog.objects.vocabulary import match_objects
from lifelog.recall.parse import QuestionError, parse_now

__all__ = ["QuestionError", "match_objects", "parse_now"]
