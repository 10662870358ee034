"""Where the memory's LanceDB tables live: a local folder (the default, ``<data>/db``) or an
S3-compatible object store (``s3://bucket/prefix``), see ``docs/scale.md``.

The place is the ``storage`` section of ``<data>/settings.json`` (``tables``, ``endpoint``,
``region``, ``retry_timeout_s``); :class:`lifelog.config.StorageSettings` validates it strictly
with :func:`parse_tables_uri`. The store sits below the settings layer, so it reads only its own
section here, leniently (a malformed section is the settings loader's error to report).

**Credentials are never in the settings file.** They come, first found first, from

1. the environment: ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` (``AWS_SESSION_TOKEN``);
2. the OS keyring (``lifelog storage set-credentials``), one entry per endpoint and bucket.

Without either, the object store's own chain (instance roles …) is left to LanceDB.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_TABLES = "db"  # relative to the data dir
KEYRING_SERVICE = "lifelog-storage"
ENV_KEY_ID = "AWS_ACCESS_KEY_ID"
ENV_SECRET = "AWS_SECRET_ACCESS_KEY"
ENV_TOKEN = "AWS_SESSION_TOKEN"
REMOTE_SCHEMES = ("s3",)
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]")


class StorageError(RuntimeError):
    """The tables' location cannot be used (unreachable, refused credentials, bad URI)."""


class StorageUnreachable(StorageError):
    """The object store did not answer (or went away during a job)."""


class StorageCredentialsRefused(StorageError):
    """The object store refused the credentials (wrong, expired or not allowed)."""


def parse_tables_uri(value: str) -> str:
    """A validated ``storage.tables`` value: a local path, or ``s3://bucket[/prefix]``.

    Refuses other schemes and any credentials written into the URI (``s3://key:secret@…``)."""
    v = value.strip()
    if not v:
        raise ValueError("storage.tables is empty (leave it out for the default <data>/db)")
    m = re.match(r"^([a-zA-Z][a-zA-Z0-9+.\-]*)://(.*)$", v)
    if m is None:
        return v
    scheme, rest = m.group(1).lower(), m.group(2)
    if scheme == "file":
        return rest
    if scheme not in REMOTE_SCHEMES:
        raise ValueError(f"storage.tables: unsupported scheme {scheme!r} (use a local path or s3://bucket/prefix)")
    bucket, _, prefix = rest.partition("/")
    if "@" in bucket or ":" in bucket:
        raise ValueError("storage.tables must not hold credentials; use `lifelog storage set-credentials` "
                         "or the AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY environment variables")
    if not _BUCKET.fullmatch(bucket):
        raise ValueError(f"storage.tables: {bucket!r} is not a bucket name")
    prefix = prefix.strip("/")
    if ".." in prefix.split("/"):
        raise ValueError("storage.tables: '..' is not allowed in the prefix")
    return f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}"


def parse_endpoint(value: str) -> str:
    v = value.strip().rstrip("/")
    m = re.fullmatch(r"(https?)://([^/@\s]+)(/.*)?", v)
    if m is None:
        raise ValueError(f"storage.endpoint: {value[:80]!r} is not an http(s) URL (no credentials in it)")
    return v


@dataclass(frozen=True)
class Credentials:
    key_id: str
    secret: str
    token: str | None = None
    source: str = "environment"  # environment | keyring

    def __repr__(self) -> str:  # never print the secret
        return f"Credentials(key_id={self.key_id[:4]}…, source={self.source})"


@dataclass(frozen=True)
class TableLocation:
    """Where the tables are, and how to reach them (no secrets in it)."""

    uri: str  # an absolute local path, or s3://bucket[/prefix]
    endpoint: str | None = None  # an S3-compatible server (MinIO, Ceph, Garage …); None: AWS
    region: str | None = None
    retry_timeout_s: float = 30.0
    cache: bool = True  # a local read cache of the hot tables (lifelog.store.cache); remote only
    cache_max_bytes: int = 20480 * 1024 * 1024
    cache_check_s: float = 1.0  # at most one check for other writers' versions per table this often

    @property
    def remote(self) -> bool:
        return self.uri.startswith("s3://")

    @property
    def bucket(self) -> str:
        return self.uri[len("s3://"):].partition("/")[0] if self.remote else ""

    @property
    def prefix(self) -> str:
        return self.uri[len("s3://"):].partition("/")[2] if self.remote else ""

    @property
    def account(self) -> str:
        """The keyring entry's name: endpoint and bucket."""
        return f"{self.endpoint or 'aws'}|{self.bucket}"

    def describe(self) -> str:
        return self.uri + (f" at {self.endpoint}" if self.endpoint else "")

    def storage_options(self, creds: Credentials | None = None) -> dict[str, str]:
        """LanceDB/object_store options; the credentials are looked up when not given."""
        if not self.remote:
            return {}
        opts: dict[str, str] = {
            "client_max_retries": "3",
            "client_retry_timeout": str(max(1, int(self.retry_timeout_s))),
            "connect_timeout": "5s",
            "timeout": f"{max(5, int(self.retry_timeout_s))}s",
        }
        if self.endpoint:
            opts["aws_endpoint"] = self.endpoint
            if self.endpoint.startswith("http://"):
                opts["allow_http"] = "true"
        if self.region:
            opts["aws_region"] = self.region
        c = creds if creds is not None else credentials(self)
        if c is not None:
            opts["aws_access_key_id"] = c.key_id
            opts["aws_secret_access_key"] = c.secret
            if c.token:
                opts["aws_session_token"] = c.token
        return opts


def location_for(data_dir: Path) -> TableLocation:
    """The tables' location of the memory in ``data_dir`` (its settings' ``storage`` section)."""
    section: dict[str, Any] = {}
    try:
        raw = json.loads((data_dir / "settings.json").read_text(encoding="utf-8"))
        got = raw.get("storage") if isinstance(raw, dict) else None
        section = got if isinstance(got, dict) else {}
    except (OSError, ValueError):
        pass
    return location_from(data_dir, section)


def location_from(data_dir: Path, section: dict[str, Any]) -> TableLocation:
    tables = section.get("tables")
    uri = parse_tables_uri(tables) if isinstance(tables, str) and tables.strip() else DEFAULT_TABLES
    if not uri.startswith("s3://"):
        p = Path(uri).expanduser()
        uri = str(p if p.is_absolute() else (data_dir / p))
    endpoint = section.get("endpoint")
    region = section.get("region")
    retry = section.get("retry_timeout_s")
    cache = section.get("cache")
    cache_mb = section.get("cache_max_mb")
    check = section.get("cache_check_s")
    return TableLocation(
        uri=uri,
        endpoint=parse_endpoint(endpoint) if isinstance(endpoint, str) and endpoint.strip() else None,
        region=region.strip() if isinstance(region, str) and region.strip() else None,
        retry_timeout_s=float(retry) if isinstance(retry, (int, float)) and retry > 0 else 30.0,
        cache=cache if isinstance(cache, bool) else True,
        cache_max_bytes=(int(cache_mb) if isinstance(cache_mb, int) and not isinstance(cache_mb, bool)
                         and cache_mb >= 0 else 20480) * 1024 * 1024,
        cache_check_s=float(check) if isinstance(check, (int, float)) and not isinstance(check, bool)
        and check >= 0 else 1.0,
    )


# ------------------------------------------------------------------ credentials
def credentials(loc: TableLocation) -> Credentials | None:
    """The credentials for ``loc``: the environment first, then the keyring; None when neither."""
    key_id, secret = os.environ.get(ENV_KEY_ID), os.environ.get(ENV_SECRET)
    if key_id and secret:
        return Credentials(key_id, secret, os.environ.get(ENV_TOKEN) or None, "environment")
    try:
        import keyring

        stored = keyring.get_password(KEYRING_SERVICE, loc.account)
    except Exception:  # no usable keyring here
        return None
    if not stored:
        return None
    try:
        doc = json.loads(stored)
        return Credentials(str(doc["key_id"]), str(doc["secret"]), doc.get("token") or None, "keyring")
    except (ValueError, KeyError, TypeError):
        return None


def save_credentials(loc: TableLocation, key_id: str, secret: str, token: str | None = None) -> None:
    """Keep credentials for ``loc`` in the OS keyring (:class:`StorageError` when there is none)."""
    from lifelog.store.vault import keyring_usable

    if not loc.remote:
        raise StorageError("the tables are in a local folder: no credentials are needed")
    if not key_id.strip() or not secret.strip():
        raise StorageError("both an access key id and a secret are needed")
    if not keyring_usable():
        raise StorageError(f"no OS keyring here; set {ENV_KEY_ID} and {ENV_SECRET} in the environment instead")
    import keyring

    doc = {"key_id": key_id.strip(), "secret": secret.strip(), "token": (token or "").strip() or None}
    keyring.set_password(KEYRING_SERVICE, loc.account, json.dumps(doc))


# ------------------------------------------------------------------ errors
_REFUSED = ("InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "AccessDenied", "TokenRefresh",
            "InvalidToken", "status: 403", "status: 401", "Forbidden")
_UNREACHABLE = ("Connection refused", "error sending request", "tcp connect", "dns error", "timed out",
                "Timeout", "connection closed", "ConnectionReset", "Connection reset", "hyper", "operation timed out")


def storage_failure(e: BaseException, loc: TableLocation) -> StorageError | None:
    """The clear error for a failure reaching ``loc``, or None when ``e`` is something else."""
    if not loc.remote:
        return None
    if isinstance(e, StorageError):
        return e
    text = str(e)
    m = re.search(r"<Code>([A-Za-z]+)</Code>", text)
    code = m.group(1) if m else ""
    if code in _REFUSED or any(s in text for s in _REFUSED):
        why = code or "403 Forbidden"
        src = credentials(loc)
        whose = f" ({src.source} credentials)" if src else " (no credentials found)"
        return StorageCredentialsRefused(
            f"the object store {loc.describe()} refused the credentials{whose}: {why}; nothing was written. "
            f"Set {ENV_KEY_ID}/{ENV_SECRET} or run `lifelog storage set-credentials`")
    if any(s in text for s in _UNREACHABLE) or isinstance(e, (ConnectionError, TimeoutError)):
        return StorageUnreachable(
            f"the object store {loc.describe()} cannot be reached; the job stopped and can be run again "
            "when it is back (nothing is done twice)")
    if "NoSuchBucket" in text:
        return StorageError(f"the bucket {loc.bucket!r} does not exist at {loc.endpoint or 'AWS'}")
    return None
