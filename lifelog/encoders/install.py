"""Installing an optional image-text model: download, verify, check it loads, switch atomically.

Steps for ``install_model(data_dir, spec)``:

1. **Refuse** an entry with a file whose sha256 is not pinned (unverified bytes are never
   installed), and a disk without room for the files' known sizes (plus a margin).
2. **Download** each file to ``<data>/models/.downloads/<sha256>.part``, resuming a partial
   file with an HTTP ``Range`` request (a server that ignores it makes the download start over).
   A connection cut short leaves the ``.part`` for the next run; no network, an HTTP error or a
   full disk are clear :class:`InstallError` messages.
3. **Verify** the size (when the manifest knows it) and the sha256. A mismatch deletes the bytes
   and refuses. Verified files become ``<sha256>.ok``, so a retry never downloads them again.
4. **Load** the model once (both graphs on a test image and a test sentence) and check the
   output dimension — files that do not fit the manifest's signature are refused.
5. **Commit** under the memory's write lock (so never during an import): the files go into a
   staging folder that is renamed to ``<data>/models/<name>/`` in one step, then the model is
   made active. Before this step nothing visible has changed; after it the model is whole.

Accepted URLs: ``https://``; ``http://`` only to a loopback host (127.0.0.1, ::1, localhost —
a local mirror or a test server); ``file://``; a plain path.
"""

from __future__ import annotations

import errno
import hashlib
import http.client
import os
import shutil
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal

from lifelog.encoders.registry import (
    DOWNLOADS_DIR,
    InstalledModel,
    ModelFile,
    ModelSpec,
    models_root,
    read_installed,
    set_active,
    write_installed,
)

CHUNK = 1 << 20
SPACE_MARGIN = 64 << 20  # keep this much free beyond the model's files
TIMEOUT_S = 30.0
LOOPBACK = {"127.0.0.1", "::1", "localhost"}


class InstallError(RuntimeError):
    """The model was not installed; the message says why and what to do. Nothing half-installed."""


class InstallCancelled(InstallError):
    pass


InstallStage = Literal["downloading", "verifying", "checking", "installing", "done"]


@dataclass(frozen=True)
class InstallProgress:
    """Progress as plain data (the CLI prints it, the app shows it)."""

    model: str
    file: str
    stage: InstallStage
    done_bytes: int
    total_bytes: int | None
    fraction: float  # 0..1 over the whole install (by bytes where sizes are known)


ProgressFn = Callable[[InstallProgress], None]


def install_model(
    data_dir: Path,
    spec: ModelSpec,
    progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
    activate: bool = True,
) -> InstalledModel:
    """Download, verify and install ``spec`` into ``data_dir`` (see the module docstring)."""
    report = progress or (lambda p: None)
    spec.check()
    if spec.unpinned:
        raise InstallError(
            f"model {spec.name}: no pinned sha256 for {', '.join(spec.unpinned)}; refusing to install "
            f"unverified files (pin them in a manifest named by $LIFELOG_MODELS_MANIFEST, see docs/models.md)"
        )
    root = models_root(data_dir)
    downloads = root / DOWNLOADS_DIR
    try:
        downloads.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InstallError(f"cannot create {downloads}: {e.strerror or e}") from e
    _check_lock_free(data_dir)
    _check_space(downloads, spec)
    n = len(spec.files)
    verified: dict[str, Path] = {}
    for i, f in enumerate(spec.files):
        assert f.sha256 is not None
        ok = downloads / f"{f.sha256}.ok"
        if not ok.is_file():
            part = downloads / f"{f.sha256}.part"

            def sub(
                done: int, total: int | None, stage: InstallStage = "downloading", i: int = i, f: ModelFile = f
            ) -> None:
                frac = (done / total) if total else 0.0
                report(InstallProgress(spec.name, f.filename, stage, done, total, (i + min(frac, 1.0)) / n))

            fetch(f.url, part, f.size, sub, cancel)
            sub(part.stat().st_size, f.size, "verifying")
            _verify(part, f)
            os.replace(part, ok)
        verified[f.filename] = ok
    report(InstallProgress(spec.name, "", "checking", 0, None, 1.0))
    staging = root / f".staging-{spec.name}-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        staging.mkdir(parents=True)
        for f in spec.files:
            _link_or_copy(verified[f.filename], staging / f.filename)
        sha = {f.filename: str(f.sha256) for f in spec.files}
        write_installed(staging, spec, sha)
        _check_loads(InstalledModel(spec, staging, sha))
        report(InstallProgress(spec.name, "", "installing", 0, None, 1.0))
        model = _commit(data_dir, spec, staging, activate)
    except OSError as e:
        raise InstallError(_os_reason(e, f"installing {spec.name}")) from e
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    for path in verified.values():  # the installed copy is the one kept
        path.unlink(missing_ok=True)
    report(InstallProgress(spec.name, "", "done", 0, None, 1.0))
    return model


# ------------------------------------------------------------------ download
def fetch(
    url: str,
    part: Path,
    expected_size: int | None,
    progress: Callable[[int, int | None], None] | None = None,
    cancel: threading.Event | None = None,
) -> None:
    """Fetch ``url`` into ``part``, resuming what is already there. Raises :class:`InstallError`."""
    report = progress or (lambda done, total: None)
    have = part.stat().st_size if part.exists() else 0
    if expected_size is not None and have > expected_size:
        part.unlink()
        have = 0
    if expected_size is not None and have == expected_size:
        return
    scheme, target = _source(url)
    if scheme == "file":
        _copy_local(Path(target), part, have, expected_size, report, cancel)
        return
    req = urllib.request.Request(url, headers={"User-Agent": "lifelog-model-install"})
    if have:
        req.add_header("Range", f"bytes={have}-")
    try:
        resp = urllib.request.urlopen(req, timeout=TIMEOUT_S)
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:  # nothing left to send: what we have is all there is
            return
        raise InstallError(f"download of {url} failed: the server answered {e.code} {e.reason}") from e
    except urllib.error.URLError as e:
        raise InstallError(f"no network: could not reach {urllib.parse.urlsplit(url).netloc} ({e.reason}); "
                           "run the command again when online (a partial download resumes)") from e
    except (TimeoutError, ConnectionError) as e:
        raise InstallError(f"no network: connecting to {url} failed ({e}); a partial download resumes") from e
    with resp:
        status = getattr(resp, "status", 200)
        append = have > 0 and status == 206
        if not append:
            have = 0
        length = resp.headers.get("Content-Length")
        remaining = int(length) if length and length.isdigit() else None
        total = expected_size if expected_size is not None else (have + remaining if remaining is not None else None)
        got = _stream(resp, part, append, have, total, report, cancel, url)
    if remaining is not None and got < remaining:
        raise InstallError(
            f"download of {url} was cut short ({have + got} of {have + remaining} bytes); "
            "run the command again to resume it"
        )


def _stream(
    src: IO[bytes] | Any,
    part: Path,
    append: bool,
    have: int,
    total: int | None,
    report: Callable[[int, int | None], None],
    cancel: threading.Event | None,
    what: str,
) -> int:
    got = 0
    last = 0.0
    try:
        with part.open("ab" if append else "wb") as out:
            while True:
                if cancel is not None and cancel.is_set():
                    raise InstallCancelled("install cancelled; run the command again to resume the download")
                try:
                    chunk = src.read(CHUNK)
                except (TimeoutError, ConnectionError, http.client.HTTPException, OSError) as e:
                    if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
                        raise
                    raise InstallError(
                        f"download of {what} was interrupted ({e}); run the command again to resume it"
                    ) from e
                if not chunk:
                    break
                out.write(chunk)
                got += len(chunk)
                now = time.monotonic()
                if now - last > 0.2:
                    last = now
                    report(have + got, total)
            out.flush()
            os.fsync(out.fileno())
    except OSError as e:
        raise InstallError(_os_reason(e, f"downloading {what}")) from e
    report(have + got, total)
    return got


def _copy_local(
    src: Path,
    part: Path,
    have: int,
    expected_size: int | None,
    report: Callable[[int, int | None], None],
    cancel: threading.Event | None,
) -> None:
    try:
        f = src.open("rb")
    except FileNotFoundError as e:
        from lifelog import paths

        hint = "; run `bash packaging/setup.sh` to build it" if src.is_relative_to(paths.models_dir()) else ""
        raise InstallError(f"{src} does not exist{hint}") from e
    except OSError as e:
        raise InstallError(f"cannot read {src}: {e.strerror or e}") from e
    with f:
        size = os.fstat(f.fileno()).st_size
        if have > size:
            have = 0
        f.seek(have)
        _stream(f, part, have > 0, have, expected_size or size, report, cancel, str(src))


def _source(url: str) -> tuple[str, str]:
    """('file', path) or ('http', url); refuses other schemes and plain http to other hosts."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "file":
        return "file", urllib.parse.unquote(parts.path)
    if parts.scheme == "" or (len(parts.scheme) == 1 and os.name == "nt"):
        return "file", url
    if parts.scheme == "https":
        return "http", url
    if parts.scheme == "http":
        if (parts.hostname or "") in LOOPBACK:
            return "http", url
        raise InstallError(
            f"refusing plain http from {parts.hostname}: use https (http is accepted from loopback only)"
        )
    raise InstallError(f"unsupported URL scheme {parts.scheme!r} in {url}")


# ------------------------------------------------------------------ checks
def _verify(part: Path, f: ModelFile) -> None:
    size = part.stat().st_size
    if f.size is not None and size != f.size:
        if size < f.size:
            raise InstallError(f"{f.filename}: download incomplete ({size} of {f.size} bytes); run again to resume")
        part.unlink(missing_ok=True)
        raise InstallError(f"{f.filename}: expected {f.size} bytes, got {size}; the download was discarded")
    h = hashlib.sha256()
    with part.open("rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            h.update(chunk)
    digest = h.hexdigest()
    if digest != f.sha256:
        part.unlink(missing_ok=True)
        raise InstallError(
            f"{f.filename}: sha256 mismatch (expected {f.sha256}, got {digest}); the download was discarded "
            "and nothing was installed"
        )


def _check_space(where: Path, spec: ModelSpec) -> None:
    need = 0
    for f in spec.files:
        assert f.sha256 is not None
        if (where / f"{f.sha256}.ok").is_file() or f.size is None:
            continue
        part = where / f"{f.sha256}.part"
        need += f.size - (part.stat().st_size if part.exists() else 0)
    free = shutil.disk_usage(where).free
    if need and free < need + SPACE_MARGIN:
        raise InstallError(
            f"disk full: model {spec.name} needs {_mb(need)} plus a {_mb(SPACE_MARGIN)} margin, "
            f"only {_mb(free)} free at {where}; nothing was installed"
        )


def _check_lock_free(data_dir: Path) -> None:
    """Fail fast (before a long download) when an import holds the memory's write lock."""
    from lifelog.store.lock import WriteLockBusy, write_lock

    try:
        with write_lock(data_dir):
            pass
    except WriteLockBusy as e:
        raise InstallError(f"{e}; nothing was installed") from e


def _check_loads(model: InstalledModel) -> None:
    """Both graphs run on a test image and sentence and give vectors of the manifest's dimension."""
    import numpy as np

    from lifelog.encoders.base import ModelMissingError
    from lifelog.encoders.clip import ClipEncoder

    enc = ClipEncoder(model, threads=1)
    try:
        img = enc.encode_images([np.full((64, 80, 3), 128, dtype=np.uint8)])
        txt = enc.encode_texts(["a photo of a cat"])
    except ModelMissingError as e:
        raise InstallError(f"model {model.name} does not fit its manifest entry: {e}; nothing was installed") from e
    except Exception as e:  # onnxruntime errors on a wrong input type or shape
        raise InstallError(
            f"model {model.name} does not run as its manifest describes ({type(e).__name__}: {e}); "
            "nothing was installed"
        ) from e
    if img.shape != (1, model.spec.dim) or txt.shape != (1, model.spec.dim):
        raise InstallError(
            f"model {model.name}: vector sizes {img.shape}/{txt.shape} do not match dim {model.spec.dim}"
        )


def _commit(data_dir: Path, spec: ModelSpec, staging: Path, activate: bool) -> InstalledModel:
    from lifelog.store.lock import WriteLockBusy, write_lock

    final = models_root(data_dir) / spec.name
    old = models_root(data_dir) / f".old-{spec.name}-{os.getpid()}"
    try:
        with write_lock(data_dir):
            if final.exists():
                os.replace(final, old)
            os.replace(staging, final)
            shutil.rmtree(old, ignore_errors=True)
            model = read_installed(data_dir, spec.name)
            assert model is not None
            if activate:
                set_active(data_dir, spec.name)
    except WriteLockBusy as e:
        raise InstallError(f"{e}; the verified download is kept, so running the install again is quick") from e
    return model


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def _os_reason(e: OSError, doing: str) -> str:
    if e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return (f"disk full while {doing}: free some space and run the command again "
                "(a partial download resumes); nothing was installed")
    if e.errno in (errno.EACCES, errno.EPERM):
        return f"permission denied while {doing}: {e.filename or e}"
    return f"{doing} failed: {e.strerror or e}"


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"
