"""Grants and the access log: the ``lifelog grants`` command, what is kept on disk (a hash, never
the token; questions only encrypted), expiry, revocation, concurrent writers, and ``forget
--everything`` leaving no access log behind. A real (empty) memory, the real CLI."""

from __future__ import annotations

import json
import stat
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from helpers import error_line, json_doc, run_cli


def _memory(data: Path) -> Any:
    from lifelog.api import Memory

    return Memory(data)


def test_add_prints_the_token_once_and_keeps_only_its_hash(data_dir: Path) -> None:
    doc = json_doc(run_cli(data_dir, *["grants", "add", "my-assistant", "--scope", "ask,people", "--days", "30",
                            "--from", "2024-05-01", "--to", "2024-05-31", "--json"]))
    token = doc["token"]
    assert token.startswith("llg_") and doc["scopes"] == ["ask", "people"] and doc["state"] == "active"
    assert doc["from"].startswith("2024-05-01T00:00") and doc["to"].startswith("2024-06-01T00:00")
    expires = datetime.fromisoformat(doc["expires"])
    assert timedelta(days=29) < expires - datetime.now(UTC) <= timedelta(days=30)
    raw = (data_dir / "grants.json").read_text()
    assert token not in raw and token.split("_")[-1] not in raw and '"token_sha256"' in raw
    assert stat.S_IMODE((data_dir / "grants.json").stat().st_mode) == 0o600

    listed = json_doc(run_cli(data_dir, *["grants", "list", "--json"]))
    assert [g["id"] for g in listed] == [doc["id"]] and "token" not in json.dumps(listed)
    plain = run_cli(data_dir, *["grants", "list"])
    assert plain.returncode == 0 and "my-assistant" in plain.stdout and token not in plain.stdout

    from lifelog.api.grants import Grants

    grants = Grants(data_dir)
    assert grants.verify(token) is not None and grants.verify(token).id == doc["id"]  # type: ignore[union-attr]
    assert grants.verify(token[:-1] + ("A" if token[-1] != "A" else "B")) is None
    assert grants.verify(f"llg_{'0' * 10}_{token.split('_')[-1]}") is None  # another grant's id
    assert grants.verify("") is None and grants.verify(None) is None


def test_bad_grant_requests_exit_2_with_one_line(data_dir: Path) -> None:
    for args, words in [
        (["grants", "add", "x", "--scope", "ask,everything"], "unknown scope"),
        (["grants", "add", "x", "--scope", "ask", "--exclude-person", "nobody00"], "no person"),
        (["grants", "add", "x", "--scope", "ask", "--from", "last tuesday"], "not a date"),
        (["grants", "revoke", "0123456789"], "no grant"),
        (["grants", "log", "../../etc/passwd"], "no grant"),
    ]:
        out = run_cli(data_dir, *args)
        assert out.returncode == 2, (args, out.stderr)
        assert words in error_line(out), (args, out.stderr)
    from lifelog.api.grants import GrantError, Grants

    grants = Grants(data_dir)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"scopes": ","}, "at least one scope"),
        ({"scopes": "ask", "days": 0}, "more than 0"),
        ({"scopes": "ask", "period_start": datetime(2024, 5, 10, tzinfo=UTC),
          "period_end": datetime(2024, 5, 1, tzinfo=UTC)}, "end after"),
        ({"scopes": "ask", "period_start": datetime(2024, 5, 10)}, "time zone"),
        ({"scopes": "ask", "name": "\x1b[31m"}, "printable"),
    ]
    for kw, words in cases:
        fields: dict[str, Any] = {"name": "x", **kw}
        with pytest.raises(GrantError, match=words):
            grants.add(fields.pop("name"), fields.pop("scopes"), **fields)
    assert grants.list() == [] and not (data_dir / "grants.json").exists()  # nothing half-made


def test_expiry_and_revocation_are_immediate(data_dir: Path) -> None:
    from lifelog.api.grants import Grants

    grants = Grants(data_dir)
    g, token = grants.add("a", "status", days=1)
    assert grants.verify(token) is not None
    assert grants.verify(token, now=datetime.now(UTC) + timedelta(days=1, seconds=1)) is None  # expired
    other = Grants(data_dir)  # e.g. the running server: sees the revocation on its next check
    assert other.verify(token) is not None
    out = run_cli(data_dir, *["grants", "revoke", "a"])  # by name
    assert out.returncode == 0 and "revoked" in out.stdout
    assert other.verify(token) is None and other.get(g.id).state() == "revoked"
    assert run_cli(data_dir, *["grants", "revoke", g.id]).returncode == 0  # idempotent
    forever, tok2 = grants.add("b", "all", days=None)
    assert forever.expires is None and grants.verify(tok2, now=datetime.now(UTC) + timedelta(days=3650))


def test_concurrent_adds_and_revokes_lose_nothing(data_dir: Path) -> None:
    from lifelog.api.grants import Grants

    made: list[str] = []
    lock = threading.Lock()

    def add(i: int) -> None:
        g, _ = Grants(data_dir).add(f"client {i}", "ask")
        with lock:
            made.append(g.id)

    threads = [threading.Thread(target=add, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    procs = [run_cli(data_dir, *["grants", "add", f"cli {i}", "--scope", "status"]) for i in range(2)]
    assert all(p.returncode == 0 for p in procs)
    ids = {g.id for g in Grants(data_dir).list()}
    assert set(made) <= ids and len(ids) == 14
    gone = made[:6]
    threads = [threading.Thread(target=Grants(data_dir).revoke, args=(i,)) for i in gone]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    states = {g.id: g.state() for g in Grants(data_dir).list()}
    assert [i for i, st in states.items() if st == "revoked"] == sorted(gone, key=list(states).index)
    assert sum(st == "active" for st in states.values()) == 8


def test_the_access_log_the_user_reads_and_forget_everything_removes(data_dir: Path) -> None:
    from lifelog.serve import ops

    mem = _memory(data_dir)
    from lifelog.api.grants import Grants

    g, token = Grants(data_dir).add("assistant", "ask,status")
    grant = ops.authenticate(mem, token)
    assert ops.status(mem, grant)["episodes"] == 0
    ops.ask(mem, grant, "when did I last see my secret garden?")
    with pytest.raises(ops.Forbidden):
        ops.people(mem, grant)
    with pytest.raises(ops.BadRequest):
        ops.ask(mem, grant, "")

    log_file = data_dir / "access" / f"{g.id}.jsonl"
    raw = log_file.read_text()
    assert "secret garden" not in raw and "question_enc" in raw
    assert stat.S_IMODE(log_file.stat().st_mode) == 0o600
    doc = json_doc(run_cli(data_dir, *["grants", "log", g.id, "--json"]))
    assert [(e["op"], e["outcome"]) for e in doc] == [("status", "ok"), ("ask", "ok"), ("people", "refused"),
                                                      ("ask", "bad_request")]
    assert doc[1]["question"] == "when did I last see my secret garden?" and doc[1]["episodes"] == []
    assert "people" in doc[2]["detail"]
    text = run_cli(data_dir, *["grants", "log"])
    assert text.returncode == 0 and "assistant" in text.stdout and "secret garden" in text.stdout
    assert len(json_doc(run_cli(data_dir, *["grants", "log", "--limit", "1", "--json"]))) == 1

    out = run_cli(data_dir, *["forget", "--everything", "--yes"])
    assert out.returncode == 0, out.stderr
    assert not log_file.exists() and not any((data_dir / "access").iterdir())
    assert json_doc(run_cli(data_dir, *["grants", "log", "--json"])) == []
    assert json_doc(run_cli(data_dir, *["grants", "list", "--json"]))[0]["id"] == g.id  # grants stay, like pairings
    assert "secret garden" not in "".join(p.read_text(errors="replace") for p in data_dir.rglob("*")
                                          if p.is_file() and p.suffix in {".json", ".jsonl", ".log"})


def test_a_grants_file_left_open_is_made_private_again(data_dir: Path) -> None:
    run_cli(data_dir, *["grants", "add", "x", "--scope", "ask"])
    (data_dir / "grants.json").chmod(0o644)
    run_cli(data_dir, *["grants", "add", "y", "--scope", "ask"])
    assert stat.S_IMODE((data_dir / "grants.json").stat().st_mode) == 0o600
