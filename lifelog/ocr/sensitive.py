"""Sensitive text: which lines read in a frame must not be stored (docs/privacy.md, "Redaction").

Pure functions, no model. A line is sensitive when it holds

* a **payment card number**: 13–19 digits, in groups separated by spaces or dashes or none,
  that pass the Luhn check (a run of digits failing it — an order number, a barcode — is not);
* an **e-mail address**;
* a **phone number**: a ``+`` and 8–15 digits, or 10–15 digits written the way phone numbers
  are (groups separated by spaces, dots, dashes, brackets);
* a **one-time code**: a lone 4–8 digit number (``123456``, ``123 456``, ``123-456``) on a line
  that names a code — "code", "OTP", "PIN", "passcode", "verification", "2FA"… — or on the line
  right before or after one (a code is often printed under its caption);
* one of the **user's words** (``PrivacySettings.sensitive_words``): compared case- and
  accent-insensitively, as whole words (a phrase's words in order).

:func:`sensitive_lines` classifies a frame's lines at once (the one-time code looks at the
neighbours); :func:`sensitive_kinds` does one line alone.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from typing import Literal

SensitiveKind = Literal["card", "email", "phone", "code", "word"]

_CARD = re.compile(r"(?<![\dA-Za-z])\d(?:[ -]?\d){12,18}(?![\dA-Za-z])")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+\s?@\s?[A-Za-z0-9-]+(?:\s?\.\s?[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_PHONE_INTL = re.compile(r"\+\s?\d(?:[\s().-]{0,2}\d){7,14}(?!\d)")
_PHONE = re.compile(r"(?<![\d.,])\(?\d{2,5}\)?(?:[\s.-]{1,2}\(?\d{2,5}\)?){1,4}(?![\d.,]\d)")
_CODE = re.compile(r"(?<![\d.,:/-])(\d{3,4}[ -]\d{3,4}|\d{4,8})(?![\d.,:/%-]|\s?[%€$£])")
_CODE_WORDS = (
    "code", "codes", "otp", "pin", "passcode", "password", "passwort", "verification", "verify",
    "2fa", "mfa", "one-time", "onetime", "authentication",
)
_CODE_WORD = re.compile(r"(?<![a-z0-9])(" + "|".join(re.escape(w) for w in _CODE_WORDS) + r")(?![a-z0-9])")


def luhn_ok(digits: str) -> bool:
    """The Luhn checksum of a string of digits holds (and it has at least two)."""
    if len(digits) < 2 or not digits.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def fold(text: str) -> str:
    """Case-folded, accents removed, every run of non-alphanumerics one space."""
    t = unicodedata.normalize("NFKD", text)
    t = "".join(c for c in t if not unicodedata.combining(c)).casefold()
    return " ".join(re.sub(r"[^\w]+|_+", " ", t).split())


def has_card(text: str) -> bool:
    for m in _CARD.finditer(text):
        digits = re.sub(r"\D", "", m.group())
        if 13 <= len(digits) <= 19 and luhn_ok(digits) and len(set(digits)) > 1:
            return True
    return False


def has_email(text: str) -> bool:
    return _EMAIL.search(text) is not None


def has_phone(text: str) -> bool:
    for m in _PHONE_INTL.finditer(text):
        if 8 <= sum(c.isdigit() for c in m.group()) <= 15:
            return True
    for m in _PHONE.finditer(text):
        s = m.group()
        n = sum(c.isdigit() for c in s)
        if 10 <= n <= 15 and not _looks_like_date_or_time(s):
            return True
    return False


def _looks_like_date_or_time(s: str) -> bool:
    return re.fullmatch(r"\d{1,4}[./-]\d{1,2}[./-]\d{1,4}(\s+\d{1,2}[.:]\d{2})?", s.strip()) is not None


def mentions_code(text: str) -> bool:
    """The line names a one-time code, a PIN or a password."""
    return _CODE_WORD.search(text.casefold()) is not None


def has_code_number(text: str) -> bool:
    """A lone 4–8 digit number (possibly split in two halves), not a year, price or time."""
    for m in _CODE.finditer(text):
        digits = re.sub(r"\D", "", m.group())
        if not 4 <= len(digits) <= 8:
            continue
        if len(digits) == 4 and 1900 <= int(digits) <= 2099:  # a year
            continue
        return True
    return False


def _word_patterns(words: Iterable[str]) -> list[re.Pattern[str]]:
    pats = []
    for w in words:
        f = fold(w)
        if f:
            # a phrase also matches written as one word: OCR often drops the spaces ("MYBANK")
            alts = sorted({re.escape(f), re.escape(f.replace(" ", ""))})
            pats.append(re.compile(r"(?<!\w)(?:" + "|".join(alts) + r")(?!\w)"))
    return pats


def _user_word(text: str, patterns: Sequence[re.Pattern[str]]) -> bool:
    if not patterns:
        return False
    f = fold(text)
    return any(p.search(f) for p in patterns)


def sensitive_kinds(text: str, words: Iterable[str] = (), *, code_context: bool = False) -> set[SensitiveKind]:
    """What makes one line sensitive (empty: nothing). ``code_context``: a neighbouring line
    names a code, so a lone number on this line counts as one."""
    return _kinds(text, _word_patterns(words), code_context)


def _kinds(text: str, patterns: Sequence[re.Pattern[str]], code_context: bool) -> set[SensitiveKind]:
    kinds: set[SensitiveKind] = set()
    if has_card(text):
        kinds.add("card")
    if has_email(text):
        kinds.add("email")
    if has_phone(text):
        kinds.add("phone")
    if (code_context or mentions_code(text)) and has_code_number(text):
        kinds.add("code")
    if _user_word(text, patterns):
        kinds.add("word")
    return kinds


def sensitive_lines(lines: Sequence[str], words: Iterable[str] = ()) -> list[set[SensitiveKind]]:
    """For each line of one frame (in reading order), what makes it sensitive (empty: nothing).

    A line that names a code ("Your verification code:") is itself hidden when the code is on
    the line right before or after it, so the caption does not say what the hidden line was."""
    patterns = _word_patterns(words)
    mentions = [mentions_code(t) for t in lines]
    out: list[set[SensitiveKind]] = []
    for i, text in enumerate(lines):
        near = (i > 0 and mentions[i - 1]) or (i + 1 < len(lines) and mentions[i + 1])
        out.append(_kinds(text, patterns, bool(near)))
    for i in range(len(lines)):  # the caption of a code found on a neighbouring line
        if mentions[i] and not out[i]:
            for j in (i - 1, i + 1):
                if 0 <= j < len(lines) and "code" in out[j] and not mentions[j]:
                    out[i].add("code")
    return out
