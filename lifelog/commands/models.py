"""``lifelog models …``: list, install, choose and re-index the optional image-text models.

* ``lifelog models list [--json]`` — the offline default and every manifest entry: installed?
  active? installable (every file pinned by sha256)? size, licence.
* ``lifelog models install NAME [--yes] [--json]`` — download (after a yes), verify, install and
  make it the active model. Without ``--yes`` on a non-interactive stdin it refuses (exit 2).
* ``lifelog models use NAME|default [--json]`` — choose the model new imports and questions use.
* ``lifelog models reindex [--engine local|ray] [--address ADDRESS] [--workers N] [--json]`` — give
  existing frames vectors of the active model (progress on stderr; Ctrl-C stops it and the next
  run resumes). ``--engine ray`` encodes in Ray actors (docs/scale.md); one re-index at a time.

Exit codes: 0 done; 1 install/re-index failed (the message says why; nothing half-installed);
2 usage (unknown model, no confirmation, not installed); 130 cancelled.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from typing import Any, Literal

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_CANCELLED = 0, 1, 2, 130


def register(sub: Any, common: argparse.ArgumentParser) -> dict[str, Any]:
    js = argparse.ArgumentParser(add_help=False)
    js.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print one JSON document")
    p = sub.add_parser("models", parents=[common, js], help="optional stronger image-text models (CLIP/SigLIP)")
    act = p.add_subparsers(dest="models_action", metavar="ACTION")
    act.add_parser("list", parents=[common, js], help="known models: installed, active, installable")
    ins = act.add_parser("install", parents=[common, js], help="download, verify and use a model")
    ins.add_argument("name", metavar="NAME")
    ins.add_argument("--yes", action="store_true", help="do not ask before downloading")
    use = act.add_parser("use", parents=[common, js], help="choose the model new imports and questions use")
    use.add_argument("name", metavar="NAME|default")
    rx = act.add_parser("reindex", parents=[common, js], help="give existing frames vectors of the active model")
    rx.add_argument("--engine", choices=["local", "ray"], default="local",
                    help="local: this process (default); ray: Ray actors (pip install 'lifelog[scale]')")
    rx.add_argument("--address", metavar="ADDRESS",
                    help="with --engine ray: a Ray cluster to join (ray://HOST:10001 or HOST:6379); "
                    "default: a local Ray")
    rx.add_argument("--workers", type=int, metavar="N", help="with --engine ray: encoder actors (default: CPUs)")
    return {"models": cmd_models}


def _emit(doc: Any) -> None:
    sys.stdout.write(json.dumps(doc, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def _data_dir(args: argparse.Namespace) -> Any:
    from lifelog.api import settings as paths

    d = paths.data_dir(getattr(args, "data_dir", None))
    d.mkdir(parents=True, exist_ok=True)
    return d


def cmd_models(args: argparse.Namespace) -> int:
    from lifelog.commands.common import CliError

    try:
        return _dispatch(args)
    except CliError as e:
        # Reported here rather than by lifelog.commands.main.main: under ``python -m lifelog`` that
        # module runs as ``__main__`` and its CliError is another class than the one raised here.
        print(f"lifelog: {e}", file=sys.stderr)
        return e.code


def _dispatch(args: argparse.Namespace) -> int:
    from lifelog.api.errors import ModelRegistryError as RegistryError
    from lifelog.commands.common import CliError

    action = getattr(args, "models_action", None) or "list"
    as_json = bool(getattr(args, "json", False))
    try:
        if action == "list":
            return _list(args, as_json)
        if action == "install":
            return _install(args, as_json)
        if action == "use":
            return _use(args, as_json)
        if action == "reindex":
            return _reindex(args, as_json)
    except RegistryError as e:
        raise CliError(str(e), EXIT_USAGE) from e
    raise CliError(f"unknown models action {action!r}", EXIT_USAGE)  # pragma: no cover - argparse


def _list(args: argparse.Namespace, as_json: bool) -> int:
    from lifelog.api.models import DEFAULT_DESCRIPTION, DEFAULT_NAME, active_name, manifest, read_installed

    d = _data_dir(args)
    active = active_name(d)
    rows: list[dict[str, Any]] = [{
        "name": DEFAULT_NAME, "version": None, "description": DEFAULT_DESCRIPTION, "dim": 384,
        "installed": True, "active": active is None, "installable": False, "size_bytes": None,
        "licence": "Apache-2.0 (see models/README.md)", "unpinned": [], "source": "built at set-up",
    }]
    for m in manifest().values():
        inst = read_installed(d, m.name)
        rows.append({
            "name": m.name, "version": inst.version if inst else m.version, "description": m.description,
            "dim": m.dim, "installed": inst is not None, "active": active == m.name,
            "installable": not m.unpinned, "size_bytes": m.known_size, "licence": m.licence,
            "unpinned": m.unpinned, "source": m.source,
        })
    if as_json:
        _emit({"active": active or DEFAULT_NAME, "models": rows})
        return EXIT_OK
    for r in rows:
        flags = ", ".join(x for x in (
            "active" if r["active"] else "", "installed" if r["installed"] else "",
            "" if r["installed"] or r["installable"] else "not installable: no pinned sha256 for "
            + ", ".join(r["unpinned"]),
        ) if x)
        size = f", {r['size_bytes'] / 1e6:.0f} MB" if r["size_bytes"] else ""
        print(f"{r['name']:<16} {r['dim']:>4}-d{size}  {r['description']}" + (f"  [{flags}]" if flags else ""))
    return EXIT_OK


class _InstallLine:
    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.last = 0.0

    def __call__(self, p: Any) -> None:
        now = time.monotonic()
        if p.stage == "downloading" and now - self.last < (0.2 if self.tty else 5.0):
            return
        self.last = now
        total = f"/{p.total_bytes / 1e6:.1f}" if p.total_bytes else ""
        line = f"[{p.fraction * 100:5.1f}%] {p.stage} {p.file} {p.done_bytes / 1e6:.1f}{total} MB"
        sys.stderr.write(("\r\x1b[2K" + line + ("\n" if p.stage == "done" else "")) if self.tty else line + "\n")
        sys.stderr.flush()


def _install(args: argparse.Namespace, as_json: bool) -> int:
    from lifelog.api.models import InstallCancelled, InstallError, install_model, spec
    from lifelog.commands.common import CliError

    s = spec(args.name)
    d = _data_dir(args)
    if not args.yes:
        size = f"{s.known_size / 1e6:.0f} MB" if s.known_size else "several hundred MB"
        what = f"download {s.name} ({size}, licence: {s.licence}) from {s.source}"
        if not sys.stdin.isatty():
            raise CliError(f"this would {what}; add --yes to confirm", EXIT_USAGE)
        sys.stderr.write(f"This will {what}. Continue? [y/N] ")
        sys.stderr.flush()
        if sys.stdin.readline().strip().lower() not in ("y", "yes"):
            raise CliError("not installed (no confirmation)", EXIT_USAGE)
    cancel = threading.Event()
    try:
        model = install_model(d, s, progress=_InstallLine(), cancel=cancel)
    except KeyboardInterrupt:
        cancel.set()
        raise CliError("install cancelled; run it again to resume the download", EXIT_CANCELLED) from None
    except InstallCancelled as e:
        raise CliError(str(e), EXIT_CANCELLED) from e
    except InstallError as e:
        raise CliError(str(e), EXIT_ERROR) from e
    stale = _stale(d, model)
    doc = {"installed": model.name, "version": model.version, "active": True, "path": str(model.path),
           "frames_to_reindex": stale}
    if as_json:
        _emit(doc)
    else:
        print(f"installed {model.name} ({model.version}); new imports and questions use it")
        if stale:
            print(f"{stale} existing frame(s) to re-index: run `lifelog models reindex`")
    return EXIT_OK


def _stale(d: Any, model: Any) -> int:
    from lifelog.api.models import frames_to_reindex

    return frames_to_reindex(d, model)


def _use(args: argparse.Namespace, as_json: bool) -> int:
    from lifelog.api.models import DEFAULT_NAME, active_model, set_active

    d = _data_dir(args)
    set_active(d, None if args.name == DEFAULT_NAME else args.name)
    model = active_model(d)
    stale = _stale(d, model) if model is not None else 0
    if as_json:
        _emit({"active": model.name if model else DEFAULT_NAME, "version": model.version if model else None,
               "frames_to_reindex": stale})
    else:
        print(f"now using {model.name if model else 'the offline default'}"
              + (f"; {stale} frame(s) to re-index: run `lifelog models reindex`" if stale else ""))
    return EXIT_OK


class _ReindexLine:
    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.last = 0.0

    def __call__(self, p: Any) -> None:
        now = time.monotonic()
        final = p.stage in ("done", "cancelled")
        if not final and now - self.last < (0.2 if self.tty else 5.0):
            return
        self.last = now
        line = f"[{p.fraction * 100:5.1f}%] {p.done}/{p.total} frames {p.stage}"
        sys.stderr.write(("\r\x1b[2K" + line + ("\n" if final else "")) if self.tty else line + "\n")
        sys.stderr.flush()


def _reindex(args: argparse.Namespace, as_json: bool) -> int:
    from lifelog.api import Memory
    from lifelog.api.models import JobBusy, RayUnavailable, active_model, ray_installed, reindex_image_text
    from lifelog.commands.common import CliError

    engine: Literal["local", "ray"] = "ray" if getattr(args, "engine", "local") == "ray" else "local"
    if engine != "ray" and (getattr(args, "address", None) or getattr(args, "workers", None)):
        raise CliError("--address and --workers go with --engine ray", EXIT_USAGE)
    if getattr(args, "workers", None) is not None and args.workers < 1:
        raise CliError("--workers must be at least 1", EXIT_USAGE)
    if engine == "ray" and not ray_installed():
        raise CliError("--engine ray needs Ray: pip install 'lifelog[scale]' (or use --engine local)", EXIT_USAGE)
    mem = Memory(getattr(args, "data_dir", None))
    model = active_model(mem.data_dir)
    if model is None:
        raise CliError("the offline default is in use: nothing to re-index (install a model first)", EXIT_USAGE)
    cancel = threading.Event()
    try:
        result = reindex_image_text(mem, engine=engine, address=getattr(args, "address", None),
                                    workers=getattr(args, "workers", None), progress=_ReindexLine(), cancel=cancel)
    except KeyboardInterrupt:
        cancel.set()
        raise CliError("re-index interrupted; run it again to resume", EXIT_CANCELLED) from None
    except JobBusy as e:
        raise CliError(str(e), EXIT_ERROR) from e
    except RayUnavailable as e:
        raise CliError(str(e), EXIT_ERROR) from e
    if as_json:
        _emit(result.to_json())
    else:
        print(f"re-indexed {result.reindexed} frame(s) with {model.name} ({result.from_media} from the original "
              f"files, {result.from_thumbnail} from thumbnails); {result.remaining} left")
        for fid, err in result.failed:
            print(f"  not re-indexed: {fid}: {err}")
    return EXIT_CANCELLED if result.cancelled else EXIT_OK


def import_on_ray(mem: Any, args: argparse.Namespace, progress: Any, cancel: threading.Event) -> Any:
    """``lifelog import PATH --engine ray [--address A] [--workers N]``: the bulk import on Ray
    (docs/scale.md); the result reads as the local import's (``cmd_import`` prints it)."""
    from lifelog.api.scale import LOCAL_ONLY, JobBusy, RayUnavailable, import_tree_on_ray, ray_installed
    from lifelog.commands.common import CliError

    if getattr(args, "engine", "local") != "ray":
        raise CliError("--address and --workers go with --engine ray", EXIT_USAGE)
    if args.workers is not None and args.workers < 1:
        raise CliError("--workers must be at least 1", EXIT_USAGE)
    if not ray_installed():
        raise CliError("--engine ray needs Ray: pip install 'lifelog[scale]' (or use --engine local)", EXIT_USAGE)
    try:
        result = import_tree_on_ray(mem, args.paths, address=args.address, workers=args.workers,
                                    device=args.device, progress=progress, cancel=cancel)
    except KeyboardInterrupt:
        cancel.set()
        raise
    except (JobBusy, RayUnavailable) as e:
        raise CliError(str(e), EXIT_ERROR) from e
    if result.imported:
        skipped = [x for x in LOCAL_ONLY if x in result.local_only]
        vectors = (f"; {result.image_text_vectors} frame(s) got the image-text model's vectors by the re-index on Ray"
                   if result.image_text_vectors else "")
        print(f"lifelog: imported on Ray; {', '.join(skipped)} are not part of the Ray import (import with "
              f"--engine local for them; speech is transcribed after the import){vectors}", file=sys.stderr)
    return result
