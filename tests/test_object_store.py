"""Issue #22, part 1: the memory's tables on an S3-compatible object store.

A real S3 server on loopback (moto's standalone server, in this process, with IAM
authentication switched on after the test's user and bucket exist) holds the tables of a memory
made from real media. Import, ask and forget work unchanged; after a forget every object of the
bucket — every version the server keeps — is byte-scanned for the forgotten rows' content, as
tests/test_forget.py does on a local disk. Faults: wrong and revoked credentials (a clear error,
nothing written), the object store going away in the middle of an import (the job stops with a
clear error; run again, it completes without duplicates).
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

moto_server = pytest.importorskip("moto.server", reason="moto[server] is in the scale extra")
boto3 = pytest.importorskip("boto3")

BUCKET = "memories"
REGION = "us-east-1"
SECRET_MARK = "s3cr3t-never-in-settings"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class S3:
    """A real S3-compatible server on loopback (stoppable and restartable on the same port: its
    objects live in this process and survive a restart)."""

    port: int
    key_id: str = ""
    secret: str = ""
    server: Any = None
    user: str = "lifelog"
    _extra: list[str] = field(default_factory=list)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
        self.server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.server.start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    def client(self, service: str = "s3", key_id: str | None = None, secret: str | None = None) -> Any:
        return boto3.client(service, endpoint_url=self.endpoint, region_name=REGION,
                            aws_access_key_id=key_id or self.key_id, aws_secret_access_key=secret or self.secret)

    def objects(self, prefix: str) -> dict[str, list[bytes]]:
        """Every stored version of every object under ``prefix`` (key → bodies)."""
        s3 = self.client()
        out: dict[str, list[bytes]] = {}
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=BUCKET, Prefix=prefix):
            for v in page.get("Versions", []):
                body = s3.get_object(Bucket=BUCKET, Key=v["Key"], VersionId=v["VersionId"])["Body"].read()
                out.setdefault(v["Key"], []).append(body)
        return out

    def keys(self, prefix: str) -> list[str]:
        s3 = self.client()
        got = s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix)
        return sorted(o["Key"] for o in got.get("Contents", []))


def start_s3() -> S3:
    """A server with one IAM user allowed everything on S3, a bucket, then authentication on."""
    from moto import settings
    from moto.core.authorization import ActionAuthenticatorMixin

    srv = S3(_free_port())
    settings.INITIAL_NO_AUTH_ACTION_COUNT = float("inf")
    srv.start()
    iam = srv.client("iam", "bootstrap", "bootstrap")
    # moto's state is per process: another test module's server made its own user, and the bucket
    srv.user = f"lifelog-{srv.port}"
    iam.create_user(UserName=srv.user)
    key = iam.create_access_key(UserName=srv.user)["AccessKey"]
    iam.put_user_policy(UserName=srv.user, PolicyName="s3", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:*", "iam:*"], "Resource": "*"}]}))
    srv.key_id, srv.secret = key["AccessKeyId"], key["SecretAccessKey"]
    s3 = srv.client()
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou, s3.exceptions.BucketAlreadyExists):
        s3.create_bucket(Bucket=BUCKET)
    ActionAuthenticatorMixin.request_count = 0
    settings.INITIAL_NO_AUTH_ACTION_COUNT = 0  # from now on every request is authenticated
    return srv


@pytest.fixture(scope="module")
def s3() -> Iterator[S3]:
    from moto import settings

    srv = start_s3()
    try:
        yield srv
    finally:
        srv.stop()
        settings.INITIAL_NO_AUTH_ACTION_COUNT = float("inf")


@pytest.fixture
def creds(s3: S3, monkeypatch: pytest.MonkeyPatch) -> S3:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3.key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3.secret)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    return s3


def on_s3(data_dir: Path, s3: S3, prefix: str, **extra: Any) -> str:
    """Settings of a visual-only memory whose tables are at s3://BUCKET/prefix (moto keeps one state per
    process, shared by every module's server: a prefix must be unique across test modules)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    doc = {"capture": {"faces": False, "ocr_interval_s": 0},
           "storage": {"tables": f"s3://{BUCKET}/{prefix}", "endpoint": s3.endpoint, "region": REGION,
                       "retry_timeout_s": 2, **extra}}
    (data_dir / "settings.json").write_text(json.dumps(doc))
    return f"{prefix}/"


@pytest.fixture(scope="module")
def lib(tmp_path_factory: pytest.TempPathFactory, media: Any) -> Any:
    from helpers import library

    return library(tmp_path_factory, media)


def _ask(mem: Any, q: str) -> Any:
    from helpers import NOW_EVENING

    return mem.ask(q, now=datetime.fromisoformat(NOW_EVENING), limit=10)


# ------------------------------------------------------------------ settings
def test_settings_hold_no_secret_and_refuse_one(creds: S3, data_dir: Path) -> None:
    from lifelog.api.settings import SettingsError, load_settings
    from lifelog.api.storage import storage_info

    prefix = on_s3(data_dir, creds, "settings")
    s = load_settings(data_dir)
    assert s.storage.tables == f"s3://{BUCKET}/settings" and s.storage.endpoint == creds.endpoint
    info = storage_info(data_dir)
    assert info.remote and info.credentials == "environment" and info.reachable, info
    text = (data_dir / "settings.json").read_text()
    assert creds.secret not in text and creds.key_id not in text
    assert not any(creds.secret in str(v) for v in info.to_json().values())
    # a URI with credentials in it is refused, never stored
    bad = json.loads(text)
    bad["storage"]["tables"] = f"s3://{creds.key_id}:{SECRET_MARK}@{BUCKET}/x"
    (data_dir / "settings.json").write_text(json.dumps(bad))
    with pytest.raises(SettingsError, match="must not hold credentials"):
        load_settings(data_dir)
    bad["storage"]["tables"] = "ftp://host/x"
    (data_dir / "settings.json").write_text(json.dumps(bad))
    with pytest.raises(SettingsError, match="unsupported scheme"):
        load_settings(data_dir)
    assert prefix


def test_cli_storage_show_and_credentials_refused_without_keyring(creds: S3, data_dir: Path) -> None:
    from helpers import cli_env, error_line, json_doc, run_cli

    on_s3(data_dir, creds, "cli")
    env = cli_env(AWS_ACCESS_KEY_ID=creds.key_id, AWS_SECRET_ACCESS_KEY=creds.secret)
    doc = json_doc(run_cli(data_dir, "storage", "show", "--json", env=env))
    assert doc["tables"] == f"s3://{BUCKET}/cli" and doc["remote"] and doc["credentials"] == "environment"
    assert doc["reachable"] and doc["vault"].endswith("vault")
    assert creds.secret not in json.dumps(doc)
    # the keyring here is not usable: set-credentials says so and writes nothing to the settings
    before = (data_dir / "settings.json").read_bytes()
    proc = run_cli(data_dir, "storage", "set-credentials", "--key-id", "AKIAX", "--secret-stdin",
                   env=cli_env(PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring"), input=f"{SECRET_MARK}\n")
    assert proc.returncode == 1 and "no OS keyring" in error_line(proc)
    assert (data_dir / "settings.json").read_bytes() == before


# ------------------------------------------------------------------ import → ask → forget
def test_import_ask_forget_leaves_nothing_in_the_bucket(
    models_ready: None, lib: Any, creds: S3, data_dir: Path
) -> None:
    from lifelog.api import Memory
    from lifelog.api.privacy import ForgetRequest

    prefix = on_s3(data_dir, creds, "alice")
    mem = Memory(data_dir)
    assert mem.store.location.remote
    got = mem.import_paths([lib.cat_morning, lib.rocket, lib.coffee_jpg])
    assert got.imported == 3 and not got.failed, got
    assert not (data_dir / "db").exists()  # the tables are in the bucket, not in the data dir
    keys = creds.keys(prefix)
    assert any(k.startswith(f"{prefix}frames.lance/") for k in keys)
    cat = _ask(mem, "when did I last see a cat?")
    media = {r["id"]: r["path"] for r in mem.store.rows("media", None, ["id", "path"]).to_pylist()}
    cat_mid = next(m for m, p in media.items() if p.endswith("cat_morning.mp4"))
    assert cat.hits and cat.hits[0].episode_id.startswith(cat_mid)

    # what the forgotten file left in the tables: its path, its ids, its vectors' bytes
    frames = mem.store.rows("frames", f"media_id = '{cat_mid}'", ["id", "semantic"]).to_pylist()
    assert frames
    needles = {"path": media[cat_mid].encode(), "media id": cat_mid.encode()}
    for i, f in enumerate(frames[:3]):
        needles[f"frame id {i}"] = f["id"].encode()
        needles[f"vector {i}"] = np.asarray(f["semantic"], np.float32).tobytes()[:64]

    cache = data_dir / "tables-cache"  # the local read cache of the tables (lifelog.store.cache)
    assert mem.store.cache is not None and {"frames", "media", "episodes"} <= set(mem.store.cache.mirrored())

    def found(where: str = "bucket") -> dict[str, list[str]]:
        hits: dict[str, list[str]] = {}
        if where == "bucket":
            objects = creds.objects(prefix)
        else:  # every byte of every file under the cache folder, whatever its name
            objects = {str(p): [p.read_bytes()] for p in cache.rglob("*") if p.is_file()}
        for key, bodies in objects.items():
            for what, needle in needles.items():
                if any(needle in b for b in bodies):
                    hits.setdefault(what, []).append(key)
        return hits

    # the scans work: before forgetting, each finds every needle
    assert set(found()) == set(needles)
    assert set(found("cache")) == set(needles)
    eps = [e.id for e in mem.episodes() if e.id.startswith(cat_mid)]
    for ep in eps:
        mem.forget(ForgetRequest("episode", ep))
    assert found() == {}
    assert found("cache") == {}, "the forgotten file is still in the local read cache"
    assert {"frames", "media", "episodes"} <= set(mem.store.cache.mirrored())  # still a cache, without it
    assert _ask(mem, "when did I see a rocket?").hits  # the rest is still there and answers
    assert not any(h.episode_id.startswith(cat_mid) for h in _ask(mem, "when did I last see a cat?").hits)
    assert mem.stats()["media"] == 2


# ------------------------------------------------------------------ faults
@pytest.mark.parametrize("which", ["wrong secret", "revoked key"])
def test_refused_credentials_are_a_clear_error_and_nothing_is_written(
    creds: S3, data_dir: Path, monkeypatch: pytest.MonkeyPatch, which: str
) -> None:
    from helpers import cli_env, error_line, run_cli

    from lifelog.api import Memory
    from lifelog.api.storage import StorageCredentialsRefused

    prefix = on_s3(data_dir, creds, f"refused-{which.replace(' ', '-')}")
    if which == "wrong secret":
        key_id, secret = creds.key_id, "not-the-secret"
    else:  # an access key that was deleted (rotated, or expired and removed) since it was handed out
        iam = creds.client("iam")
        key = iam.create_access_key(UserName=creds.user)["AccessKey"]
        key_id, secret = key["AccessKeyId"], key["SecretAccessKey"]
        iam.delete_access_key(UserName=creds.user, AccessKeyId=key_id)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    with pytest.raises(StorageCredentialsRefused, match="refused the credentials"):
        Memory(data_dir)
    proc = run_cli(data_dir, "status", "--json", env=cli_env(AWS_ACCESS_KEY_ID=key_id, AWS_SECRET_ACCESS_KEY=secret))
    assert proc.returncode != 0 and "refused the credentials" in error_line(proc)
    assert secret not in proc.stderr
    assert creds.keys(prefix) == []  # nothing was written


def test_object_store_going_away_mid_import_stops_then_resumes_without_duplicates(
    models_ready: None, lib: Any, creds: S3, data_dir: Path
) -> None:
    from lifelog.api import Memory
    from lifelog.api.storage import StorageUnreachable

    on_s3(data_dir, creds, "away")
    mem = Memory(data_dir)
    seen: list[str] = []

    def progress(p: Any) -> None:
        # the second file is being encoded: the first is committed; the store goes away now
        if p.files_done == 1 and p.stage not in ("hashing",) and creds.server is not None:
            seen.append(p.current)
            creds.stop()

    try:
        with pytest.raises(StorageUnreachable, match="cannot be reached"):
            mem.import_paths([lib.cat_morning, lib.rocket, lib.coffee_jpg], progress=progress)
    finally:
        if creds.server is None:
            creds.start()
    assert seen
    again = Memory(data_dir)
    got = again.import_paths([lib.cat_morning, lib.rocket, lib.coffee_jpg])
    assert not got.failed, got
    assert got.imported + got.skipped == 3 and got.skipped >= 1
    for table in ("media", "episodes", "frames"):
        ids = again.store.rows(table, None, ["id"]).column("id").to_pylist()
        assert len(ids) == len(set(ids)), f"duplicate rows in {table}"
    assert again.stats()["media"] == 3
    assert {h.episode_id[:8] for h in _ask(again, "when did I see a rocket?").hits}


def test_move_a_local_memory_to_the_object_store_resumably(
    models_ready: None, lib: Any, creds: S3, data_dir: Path
) -> None:
    import threading

    from helpers import cli_env, json_doc, run_cli

    from lifelog.api import Memory
    from lifelog.api.storage import StorageError, StorageSettings, move_tables

    (data_dir / "settings.json").write_text(json.dumps({"capture": {"faces": False, "ocr_interval_s": 0}}))
    mem = Memory(data_dir)
    assert mem.import_paths([lib.cat_morning, lib.coffee_jpg]).imported == 2
    mem.store.ensure_indexes(scalar_min_rows=1)
    indexes = {t: sorted(mem.store.index_names(t)) for t in ("media", "episodes", "frames")}
    assert indexes["frames"], "the memory has indexes to move"
    before = {t: mem.store.count(t) for t in ("media", "episodes", "frames")}
    target = StorageSettings(tables=f"s3://{BUCKET}/moved", endpoint=creds.endpoint, region=REGION)
    cancel = threading.Event()
    copied: list[str] = []

    def stop_after_two(p: Any) -> None:
        copied.append(p.table)
        if len(copied) == 2:
            cancel.set()

    with pytest.raises(StorageError, match="cancelled"):
        move_tables(data_dir, target, progress=stop_after_two, cancel=cancel)
    assert Memory(data_dir).store.location.remote is False  # not switched: still the local tables
    env = cli_env(AWS_ACCESS_KEY_ID=creds.key_id, AWS_SECRET_ACCESS_KEY=creds.secret)
    proc = run_cli(data_dir, "storage", "move-to", f"s3://{BUCKET}/moved", "--endpoint", creds.endpoint,
                   "--region", REGION, "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    assert json_doc(proc)["tables"] == f"s3://{BUCKET}/moved"
    moved = Memory(data_dir)
    assert moved.store.location.remote
    assert {t: moved.store.count(t) for t in before} == before
    assert {t: sorted(moved.store.index_names(t)) for t in indexes} == indexes  # moved with the tables
    assert _ask(moved, "when did I last see a cat?").hits
    proc = run_cli(data_dir, "storage", "move-to", f"s3://{BUCKET}/moved", "--endpoint", creds.endpoint,
                   "--region", REGION, env=env)
    assert proc.returncode == 1 and "already at" in proc.stderr
