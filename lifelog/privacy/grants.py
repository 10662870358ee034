"""Grants: access for other programs, one token per client, never a master key (issue #17).

A *grant* is what the user gives one client (a local assistant, a script): a name, the kinds of
things it may read (:data:`KINDS`), optionally a period it may read and people it must never
see, and an expiry. The client holds a bearer token; the memory keeps only the token's SHA-256
(the token is 256 random bits, so a fast hash is enough; it is compared in constant time).
Every grant is read-only: no operation served to clients writes to the memory.

Files (under the data dir, 0600, see docs/api.md):

* ``grants.json`` — the grants, written atomically under ``grants.lock`` (an ``flock``), so the
  ``lifelog grants`` command and a running server never lose each other's changes. A server
  re-reads it whenever it changed (its size, mtime or inode), so a revocation is seen by the very
  next request.
* ``access/<grant id>.jsonl`` — the grant's access log, one JSON document per request: when, which
  operation, over what (``http``/``mcp``), the outcome, which episode ids were returned and counts.
  The log never holds decrypted memory content. What a client *sent* (a question, a search) is
  worth showing the user — it is what the client wanted to know — but it is text about the user's
  life, so it is stored only encrypted through the vault (``question_enc``, AES-GCM bound to the
  grant and the entry's time) and decrypted only when the user reads the log. ``forget
  --everything`` shreds every access log (:func:`clear_access_logs`); revoking a grant keeps its
  log so the user can still read what it did.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import hmac
import json
import os
import re
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, get_args

from lifelog.store.files import atomic_write, shred_file
from lifelog.store.vault import Vault

GRANTS_FILE = "grants.json"
GRANTS_LOCK = "grants.lock"
ACCESS_DIR = "access"
TOKEN_PREFIX = "llg"
FORMAT_VERSION = 1

Kind = Literal["ask", "search", "episodes", "people", "objects", "transcripts", "thumbnails", "profile", "status"]
"""What a grant may read. ``episodes`` covers days, the episode list and one episode;
``transcripts`` adds what was said (quotes, utterances); ``thumbnails`` adds the images."""
KINDS: tuple[Kind, ...] = get_args(Kind)

Outcome = Literal["ok", "refused", "not_found", "bad_request", "error"]
Via = Literal["http", "mcp", "local"]

_ID_RE = re.compile(r"^[0-9a-f]{10}$")
_TOKEN_RE = re.compile(rf"^{TOKEN_PREFIX}_([0-9a-f]{{10}})_([A-Za-z0-9_-]{{43}})$")


class GrantError(ValueError):
    """A grant operation that cannot be done (unknown grant, bad scope, bad period); the message
    is for the user."""


@dataclass(frozen=True)
class Grant:
    """One client's access. Times are timezone-aware (UTC as stored)."""

    id: str
    name: str
    scopes: frozenset[str]
    created: datetime
    expires: datetime | None
    period_start: datetime | None = None  # the client may read episodes overlapping [start, end)
    period_end: datetime | None = None
    exclude_people: tuple[str, ...] = ()
    revoked: datetime | None = None
    read_only: bool = True  # no served operation writes; kept explicit for the grants file
    token_sha256: str = field(default="", repr=False)

    def allows(self, kind: Kind) -> bool:
        return kind in self.scopes

    def state(self, now: datetime | None = None) -> Literal["active", "expired", "revoked"]:
        if self.revoked is not None:
            return "revoked"
        if self.expires is not None and (now or datetime.now(UTC)) >= self.expires:
            return "expired"
        return "active"

    def in_period(self, start: datetime, end: datetime) -> bool:
        """Whether an episode spanning [start, end] may be read under this grant's period."""
        if self.period_start is not None and end < self.period_start:
            return False
        return not (self.period_end is not None and start >= self.period_end)

    def to_json(self, now: datetime | None = None) -> dict[str, Any]:
        """What the user (and the client itself, in ``status``) may see: never the token's hash."""
        return {
            "id": self.id,
            "name": self.name,
            "scopes": sorted(self.scopes),
            "created": self.created.isoformat(),
            "expires": self.expires.isoformat() if self.expires else None,
            "from": self.period_start.isoformat() if self.period_start else None,
            "to": self.period_end.isoformat() if self.period_end else None,
            "exclude_people": list(self.exclude_people),
            "revoked": self.revoked.isoformat() if self.revoked else None,
            "read_only": self.read_only,
            "state": self.state(now),
        }


def _ts(v: object) -> datetime | None:
    return datetime.fromisoformat(v) if isinstance(v, str) and v else None


def _from_doc(d: dict[str, Any]) -> Grant:
    created = _ts(d.get("created"))
    if not isinstance(d.get("id"), str) or created is None:
        raise ValueError("not a grant")
    return Grant(
        id=d["id"], name=str(d.get("name", "")), scopes=frozenset(str(s) for s in d.get("scopes", [])),
        created=created, expires=_ts(d.get("expires")), period_start=_ts(d.get("from")),
        period_end=_ts(d.get("to")), exclude_people=tuple(str(p) for p in d.get("exclude_people", [])),
        revoked=_ts(d.get("revoked")), read_only=bool(d.get("read_only", True)),
        token_sha256=str(d.get("token_sha256", "")),
    )


def _to_doc(g: Grant) -> dict[str, Any]:
    doc = g.to_json()
    doc.pop("state")
    doc["token_sha256"] = g.token_sha256
    return doc


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def parse_scopes(text: str | Iterable[str]) -> frozenset[str]:
    """``"ask,people"`` (or a list) as scopes; ``all`` means every kind. ``GrantError`` for a
    kind that does not exist, or none at all."""
    items = text.split(",") if isinstance(text, str) else list(text)
    out: set[str] = set()
    for raw in items:
        s = raw.strip().lower()
        if not s:
            continue
        if s == "all":
            out.update(KINDS)
        elif s in KINDS:
            out.add(s)
        else:
            raise GrantError(f"unknown scope {raw.strip()!r}: choose from {', '.join(KINDS)} (or all)")
    if not out:
        raise GrantError(f"a grant needs at least one scope: {', '.join(KINDS)} (or all)")
    return frozenset(out)


class Grants:
    """The grants of one data dir. Safe to share between threads and with other processes."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self.path = self.data_dir / GRANTS_FILE
        self._cache: tuple[tuple[int, int, int], dict[str, Grant]] | None = None

    # ---------------------------------------------------------------- reading
    def _load(self) -> dict[str, Grant]:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return {}
        key = (st.st_ino, st.st_mtime_ns, st.st_size)
        cached = self._cache
        if cached is not None and cached[0] == key:
            return cached[1]
        try:
            doc = json.loads(self.path.read_bytes())
            items = doc.get("grants", []) if isinstance(doc, dict) else []
        except (OSError, ValueError) as e:
            raise GrantError(f"the grants file {self.path} is damaged: {e}") from e
        grants: dict[str, Grant] = {}
        for d in items:
            with contextlib.suppress(ValueError, TypeError, KeyError, AttributeError):
                g = _from_doc(d)
                grants[g.id] = g
        self._cache = (key, grants)
        return grants

    def list(self) -> list[Grant]:
        """Every grant (revoked and expired ones too), oldest first."""
        return sorted(self._load().values(), key=lambda g: g.created)

    def get(self, grant_id: str) -> Grant:
        g = self._load().get(grant_id)
        if g is None:
            # a name is accepted too, when it names exactly one grant
            named = [x for x in self._load().values() if x.name == grant_id]
            if len(named) == 1:
                return named[0]
            raise GrantError(f"no grant {grant_id!r} (see `lifelog grants list`)")
        return g

    def match(self, token: str | None) -> Grant | None:
        """The grant a token was issued for, whatever its state (revoked, expired); None for a
        missing, malformed or unknown token. Compared in constant time."""
        if not token:
            return None
        token = token.strip()
        digest = _hash(token)  # hashed first, so a malformed token takes as long as a wrong one
        m = _TOKEN_RE.match(token)
        if m is None:
            return None
        g = self._load().get(m.group(1))
        if g is None or not g.token_sha256 or not hmac.compare_digest(digest, g.token_sha256):
            return None
        return g

    def verify(self, token: str | None, now: datetime | None = None) -> Grant | None:
        """The active grant a bearer token belongs to; None for a missing, malformed, unknown,
        expired or revoked token."""
        g = self.match(token)
        return g if g is not None and g.state(now) == "active" else None

    # ---------------------------------------------------------------- writing
    @contextlib.contextmanager
    def _locked(self) -> Iterator[dict[str, Grant]]:
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.data_dir / GRANTS_LOCK, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            self._cache = None
            grants = dict(self._load())
            yield grants
            body = {"version": FORMAT_VERSION, "grants": [_to_doc(g) for g in sorted(grants.values(),
                                                                                    key=lambda g: g.created)]}
            atomic_write(self.path, json.dumps(body, indent=1).encode())  # mkstemp: 0600
            os.chmod(self.path, 0o600)
            self._cache = None
        finally:
            os.close(fd)

    def add(
        self,
        name: str,
        scopes: str | Iterable[str],
        *,
        days: float | None = 30,
        exclude_people: Iterable[str] = (),
        period_start: datetime | None = None,
        period_end: datetime | None = None,
        now: datetime | None = None,
    ) -> tuple[Grant, str]:
        """A new grant and its token (shown to the user once; only its hash is kept). ``days``:
        how long it lasts (None: until revoked)."""
        name = name.strip()
        if not name or len(name) > 80 or any(ord(c) < 32 for c in name):
            raise GrantError("a grant needs a name (up to 80 printable characters)")
        sc = parse_scopes(scopes)
        if days is not None and not days > 0:
            raise GrantError("--days must be more than 0")
        for t in (period_start, period_end):
            if t is not None and t.tzinfo is None:
                raise GrantError("a grant's period needs times with a time zone")
        if period_start and period_end and period_end <= period_start:
            raise GrantError("the grant's period must end after it starts")
        people = tuple(sorted({p.strip() for p in exclude_people if p.strip()}))
        now = now or datetime.now(UTC)
        with self._locked() as grants:
            gid = secrets.token_hex(5)
            while gid in grants:
                gid = secrets.token_hex(5)
            token = f"{TOKEN_PREFIX}_{gid}_{secrets.token_urlsafe(32)}"
            g = Grant(
                id=gid, name=name, scopes=sc, created=now.astimezone(UTC),
                expires=(now + timedelta(days=days)).astimezone(UTC) if days is not None else None,
                period_start=period_start, period_end=period_end, exclude_people=people,
                token_sha256=_hash(token),
            )
            grants[gid] = g
        return g, token

    def revoke(self, grant_id: str, now: datetime | None = None) -> Grant:
        """Revoke a grant now: its token is refused from the next request on (idempotent)."""
        target = self.get(grant_id)
        with self._locked() as grants:
            g = grants.get(target.id)
            if g is None:
                raise GrantError(f"no grant {grant_id!r}")
            if g.revoked is None:
                g = replace(g, revoked=(now or datetime.now(UTC)).astimezone(UTC))
                grants[g.id] = g
        return g


# ---------------------------------------------------------------------- access log
def _log_path(data_dir: Path, grant_id: str) -> Path:
    if not _ID_RE.match(grant_id):
        raise GrantError(f"no grant {grant_id!r}")
    return data_dir / ACCESS_DIR / f"{grant_id}.jsonl"


def log_access(
    data_dir: Path,
    vault: Vault | None,
    grant_id: str,
    op: str,
    outcome: Outcome,
    *,
    via: Via = "http",
    status: int = 200,
    episodes: Iterable[str] = (),
    counts: dict[str, int] | None = None,
    question: str | None = None,
    detail: str | None = None,
) -> None:
    """Append one request to the grant's access log. ``question`` (what the client sent) is
    stored only encrypted (never without a vault); ``detail`` is a short reason of ours (a refusal),
    never memory content."""
    at = datetime.now(UTC)
    entry: dict[str, Any] = {
        "at": at.isoformat(timespec="milliseconds"), "grant": grant_id, "op": op, "via": via,
        "outcome": outcome, "status": status, "episodes": list(dict.fromkeys(episodes)),
        "counts": counts or {},
    }
    if detail:
        entry["detail"] = detail[:200]
    if question is not None and vault is not None:
        blob = vault.encrypt_text(question[:2000], f"access:{grant_id}:{entry['at']}")
        entry["question_enc"] = base64.b64encode(blob).decode("ascii")
    path = _log_path(data_dir, grant_id)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as f:
        f.write(json.dumps(entry, sort_keys=True) + "\n")  # one write: lines never interleave


def read_access_log(
    data_dir: Path, vault: Vault | None, grant_id: str | None = None, limit: int | None = None
) -> list[dict[str, Any]]:
    """Entries of one grant's log (or of every grant's), oldest first; with a vault the client's
    question is decrypted (``question``), else left out. A damaged line is skipped."""
    folder = data_dir / ACCESS_DIR
    if grant_id is not None:
        files = [_log_path(data_dir, grant_id)]
    else:
        files = sorted(folder.glob("*.jsonl")) if folder.is_dir() else []
    out: list[dict[str, Any]] = []
    for path in files:
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            continue
        for line in lines:
            try:
                doc = json.loads(line)
            except ValueError:
                continue
            if not isinstance(doc, dict):
                continue
            enc = doc.pop("question_enc", None)
            if isinstance(enc, str) and vault is not None:
                try:
                    doc["question"] = vault.decrypt_text(base64.b64decode(enc),
                                                         f"access:{doc.get('grant')}:{doc.get('at')}")
                except Exception:
                    doc["question"] = None  # another key (a forgotten or rotated memory): unreadable
            out.append(doc)
    out.sort(key=lambda d: str(d.get("at", "")))
    return out[-limit:] if limit else out


def clear_access_logs(data_dir: Path) -> int:
    """Shred every access log (``forget --everything``); the number of logs removed."""
    folder = data_dir / ACCESS_DIR
    n = 0
    if folder.is_dir() and not folder.is_symlink():
        for p in folder.iterdir():
            if p.is_file() and shred_file(p):
                n += 1
    return n
