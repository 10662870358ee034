"""People's names: how a name typed by the user is cleaned before it is stored, and matched."""

from __future__ import annotations

import unicodedata

from lifelog.people.types import PeopleError

MAX_NAME_CHARS = 100


def clean_name(name: object) -> str:
    """A person's name as stored (NFC, trimmed, inner whitespace collapsed) or a :class:`PeopleError`."""
    if not isinstance(name, str):
        raise PeopleError("a name must be text")
    for ch in name:
        cat = unicodedata.category(ch)
        if cat in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp") and ch != " ":
            raise PeopleError(
                f"a name cannot contain control or invisible characters (found U+{ord(ch):04X}); "
                "type it on one line"
            )
    text = " ".join(unicodedata.normalize("NFC", name).split())
    if not text:
        raise PeopleError("a name cannot be empty")
    if len(text) > MAX_NAME_CHARS:
        raise PeopleError(f"a name can be at most {MAX_NAME_CHARS} characters (this one has {len(text)})")
    return text


def name_key(name: str) -> str:
    """What two names must share to match: compatibility-normalized, case-folded, single-spaced."""
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())
