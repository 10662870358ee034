"""``lifelog devices``, ``lifelog sync`` and ``lifelog record`` (see docs/devices.md, docs/cli.md).

Loaded by :mod:`lifelog.commands.main` for every command, so it imports nothing heavy at module level.
Long work (sync, record) runs on a worker thread; Ctrl-C sets its cancel event, waits for it
to stop cleanly and exits 130.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from lifelog.commands.common import EXIT_CANCELLED, EXIT_ERROR, EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, CliError

_T = TypeVar("_T")


def register(sub: Any, common: argparse.ArgumentParser) -> dict[str, Callable[[argparse.Namespace], int]]:
    js = argparse.ArgumentParser(add_help=False)  # --json after an action too, without resetting it
    js.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print one JSON document")

    dv = sub.add_parser("devices", parents=[common], help="paired devices; pair or remove one")
    dv.add_argument("--json", action="store_true", help="print one JSON document")
    dact = dv.add_subparsers(dest="devices_action", metavar="ACTION")
    pr = dact.add_parser("pair", parents=[common, js], help="pair a USB volume, a GoPro-style camera or a Wi-Fi device")
    pkind = pr.add_subparsers(dest="pair_kind", metavar="KIND")
    pu = pkind.add_parser("usb", parents=[common, js], help="a mounted camera volume (DCF layout)")
    pu.add_argument("path", nargs="?", type=Path, metavar="PATH", help="where the volume is mounted")
    pu.add_argument("--volume", action="store_true", help="the one DCF volume mounted now")
    pg = pkind.add_parser("gopro", parents=[common, js], help="a camera speaking Open GoPro over HTTP")
    pg.add_argument("url", metavar="URL", help="e.g. http://10.5.5.9:8080")
    pf = pkind.add_parser("folder", parents=[common, js], help="any folder (a synced phone folder, a NAS share)")
    pf.add_argument("path", type=Path, metavar="PATH")
    pw = pkind.add_parser("wifi", parents=[common, js], help="a companion app over Wi-Fi (shows a QR code and PIN)")
    pw.add_argument("--ttl", type=float, help="seconds the offer stays valid")
    pw.add_argument("--name", help="the device's name, for the prompt")
    rm = dact.add_parser("remove", parents=[common, js], help="unpair a device (Wi-Fi devices are revoked)")
    rm.add_argument("id", metavar="ID")
    ap = dact.add_parser("approve", parents=[common, js], help="let a LocalSend sender waiting in `serve` send files")
    ap.add_argument("id", nargs="?", metavar="ID", help="the request's id (see --list)")
    ap.add_argument("--list", action="store_true", help="the LocalSend senders waiting for an answer")
    dn = dact.add_parser("deny", parents=[common, js], help="refuse a LocalSend sender waiting in `serve`")
    dn.add_argument("id", metavar="ID")

    sy = sub.add_parser("sync", parents=[common], help="take new footage from paired devices")
    sy.add_argument("device", nargs="?", metavar="DEVICE", help="one device id (default: every paired device)")
    sy.add_argument("--json", action="store_true", help="print one JSON document")
    sy.add_argument("--watch", action="store_true", help="keep running; sync paired USB volumes as they are mounted")
    sy.add_argument(
        "--delete-after",
        action="store_true",
        help="delete each file from the device after its verified copy is imported (asks first)",
    )
    sy.add_argument("--yes", action="store_true", help="do not ask before --delete-after")
    sy.add_argument("--no-originals", action="store_true", help="do not keep copies under <data>/originals")

    rc = sub.add_parser("record", parents=[common], help="record from a webcam into memory")
    cam = rc.add_mutually_exclusive_group()
    cam.add_argument("--camera", type=int, metavar="N", help="camera index (default 0)")
    cam.add_argument("--device", metavar="PATH", help="camera device path, e.g. /dev/video2")
    rc.add_argument("--segment-s", type=float, default=60.0, help="segment length in seconds (default 60)")
    rc.add_argument("--duration", type=float, metavar="S", help="stop after S seconds (default: Ctrl-C)")
    rc.add_argument("--json", action="store_true", help="print one JSON document")
    return {"devices": cmd_devices, "sync": cmd_sync, "record": cmd_record}


# ------------------------------------------------------------------ helpers
def _data_dir(args: argparse.Namespace) -> Path:
    from lifelog.api import settings as paths

    return paths.data_dir(getattr(args, "data_dir", None))


def _emit(doc: Any) -> None:
    sys.stdout.write(json.dumps(doc, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()


def _in_worker(fn: Callable[[threading.Event], _T]) -> tuple[_T | None, bool]:
    """Run ``fn(cancel)`` on a thread; Ctrl-C sets ``cancel`` and waits. (result, interrupted)."""
    cancel = threading.Event()
    finished = threading.Event()  # not Thread.join: a join interrupted by Ctrl-C can lie about is_alive
    box: list[_T] = []
    err: list[BaseException] = []

    def run() -> None:
        try:
            box.append(fn(cancel))
        except BaseException as e:
            err.append(e)
        finally:
            finished.set()

    t = threading.Thread(target=run, name="lifelog-device-work", daemon=True)
    t.start()
    interrupted = False
    while not finished.is_set():
        try:
            finished.wait(0.2)
        except KeyboardInterrupt:
            if interrupted:
                raise  # a second Ctrl-C: leave now (partial files are resumed next time)
            interrupted = True
            cancel.set()
            print("\nlifelog: stopping… (partial downloads are kept and resumed next time)", file=sys.stderr)
    if err:
        raise err[0]
    return (box[0] if box else None), interrupted


# ------------------------------------------------------------------ devices
def cmd_devices(args: argparse.Namespace) -> int:
    action = getattr(args, "devices_action", None)
    if action == "pair":
        return _pair(args)
    if action == "remove":
        return _remove(args)
    if action in ("approve", "deny"):
        from lifelog.commands.wifi import approve_command

        return int(approve_command(args))
    return _list(args)


def _list(args: argparse.Namespace) -> int:
    from lifelog.api.devices import Ledger, iter_identified, list_paired, list_wifi_devices
    from lifelog.api.errors import LedgerDamaged

    data_dir = _data_dir(args)
    paired = list_paired(data_dir)
    mounted = {ident.id: (vol, ident) for vol, ident in iter_identified()}
    rows: list[dict[str, Any]] = []
    for dev in paired:
        doc = dev.to_json()
        doc["connected"] = (dev.id in mounted) if dev.kind == "usb" else None
        if dev.kind == "usb" and dev.id in mounted:
            doc["details"]["mount"] = str(mounted[dev.id][0].path)
        try:
            doc["taken"] = len(Ledger(data_dir, dev.id))
        except (LedgerDamaged, ValueError):
            doc["taken"] = None
        rows.append(doc)
    for w in list_wifi_devices(data_dir):
        doc = w.to_json()
        doc.setdefault("kind", "wifi")
        rows.append(doc)
    known = {d.id for d in paired}
    unpaired = [
        {"id": ident.id, "label": ident.label, "path": str(vol.path), "layout": ident.details.get("layout")}
        for ident_id, (vol, ident) in mounted.items()
        if ident_id not in known
    ]
    if getattr(args, "json", False):
        _emit({"devices": rows, "unpaired_volumes": unpaired})
        return EXIT_OK
    if not rows:
        print("no paired devices (pair one with `lifelog devices pair usb PATH|--volume`, "
              "`… pair gopro URL` or `… pair wifi`)")  # fmt: skip
    for r in rows:
        state = {True: "connected", False: "not connected", None: ""}.get(r.get("connected"), "")
        if r.get("revoked"):
            state = "revoked"
        label = r.get("label") or r.get("name") or ""
        taken = f"{r['taken']} file(s) taken" if r.get("taken") is not None else ""
        print(f"{r['id']:<28} {r.get('kind', ''):<9} {label}  {state}  {taken}".rstrip())
    for u in unpaired:
        print(f"mounted, not paired: {u['path']} ({u['label']}) — `lifelog devices pair usb {u['path']}`")
    return EXIT_OK


def _pair(args: argparse.Namespace) -> int:
    from lifelog.api.devices import DeviceIdentity, FolderSource, pair_paired
    from lifelog.api.errors import SourceError

    kind = getattr(args, "pair_kind", None)
    data_dir = _data_dir(args)
    ident: DeviceIdentity
    if kind == "wifi":
        from lifelog.commands.wifi import pair_command

        return int(pair_command(args))
    if kind == "usb":
        from lifelog.api.devices import find_volumes, identify_volume

        if args.path is None and not args.volume:
            raise CliError("give the volume's mount point, or --volume for the one mounted now", EXIT_USAGE)
        if args.path is not None:
            path = args.path
            if not path.is_dir():
                raise CliError(f"{path} is not a mounted folder", EXIT_USAGE)
        else:
            vols = find_volumes()
            if len(vols) != 1:
                where = ", ".join(str(v.path) for v in vols) or "none"
                raise CliError(f"--volume needs exactly one mounted DCF volume (found: {where}); give PATH", EXIT_USAGE)
            path = vols[0].path
        try:
            ident = identify_volume(path)
        except SourceError as e:
            raise CliError(str(e), EXIT_USAGE) from e
    elif kind == "gopro":
        from lifelog.api.devices import GoProSource

        try:
            src = GoProSource(args.url, retries=1, timeout_s=5)
            n = len(list(src.list_media()))
            ident = src.identity()
        except ValueError as e:
            raise CliError(str(e), EXIT_USAGE) from e
        except SourceError as e:
            raise CliError(f"cannot pair: {e}") from e
        print(f"lifelog: the camera lists {n} file(s)", file=sys.stderr)
    elif kind == "folder":
        if not args.path.is_dir():
            raise CliError(f"{args.path} is not a folder", EXIT_USAGE)
        ident = FolderSource(args.path.resolve()).identity()
    else:
        raise CliError("pair what? `lifelog devices pair usb|gopro|folder|wifi …`", EXIT_USAGE)
    dev = pair_paired(data_dir, ident)
    if getattr(args, "json", False):
        _emit(dev.to_json())
    else:
        print(f"paired {dev.id}: {dev.label} — `lifelog sync {dev.id}` takes its new footage")
    return EXIT_OK


def _remove(args: argparse.Namespace) -> int:
    from lifelog.api.devices import get_paired, list_wifi_devices, remove_paired

    data_dir = _data_dir(args)
    if get_paired(data_dir, args.id) is None:
        from lifelog.commands.wifi import revoke_command

        if any(w.id == args.id for w in list_wifi_devices(data_dir)):
            return int(revoke_command(args))
        raise CliError(f"no paired device {args.id!r} (see `lifelog devices`)", EXIT_USAGE)
    dev = remove_paired(data_dir, args.id)
    if getattr(args, "json", False):
        _emit({"removed": dev.to_json()})
    else:
        print(f"removed {dev.id} ({dev.label}); what was imported from it stays in memory")
    return EXIT_OK


# ------------------------------------------------------------------ sync
def cmd_sync(args: argparse.Namespace) -> int:
    from lifelog.api.devices import SyncOptions, SyncResult, list_paired, source_for, sync_source, watch_paired
    from lifelog.commands.common import Progress

    data_dir = _data_dir(args)
    paired = list_paired(data_dir)
    if args.device:
        paired = [d for d in paired if d.id == args.device]
        if not paired:
            raise CliError(f"no paired device {args.device!r} (see `lifelog devices`)", EXIT_USAGE)
    if args.delete_after and not args.yes:
        if not sys.stdin.isatty():
            raise CliError("--delete-after deletes files from the device: confirm with --yes", EXIT_USAGE)
        answer = input("Delete each file from the device once its copy is verified and imported? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            raise CliError("nothing synced (deletion not confirmed)", EXIT_USAGE)
    from lifelog.api import Memory

    mem = Memory(data_dir)
    opts = SyncOptions(keep_originals=not args.no_originals, delete_after=args.delete_after)
    results: list[SyncResult] = []
    absent: list[str] = []
    prog = Progress()

    def report(r: SyncResult) -> None:
        results.append(r)
        if not args.json:
            _print_result(r)

    def work(cancel: threading.Event) -> None:
        for dev in paired:
            if cancel.is_set():
                break
            src = source_for(dev)
            if src is None:
                absent.append(dev.id)
                if not args.json and not args.watch:
                    print(f"{dev.id} ({dev.label}): not connected")
                continue
            report(sync_source(mem, src, options=opts, progress=prog, cancel=cancel))
            close = getattr(src, "close", None)
            if close is not None:
                close()
        if args.watch and not cancel.is_set():
            print("lifelog: watching for paired volumes; Ctrl-C stops", file=sys.stderr)
            synced_now = {r.device_id for r in results}

            def on_result(r: SyncResult) -> None:
                if r.device_id in synced_now:  # already synced above, at start
                    synced_now.discard(r.device_id)
                    if not (r.new or r.failed or r.refused):
                        return
                report(r)

            watch_paired(mem, cancel, options=opts, on_result=on_result, progress=prog)

    if not paired and not args.watch:
        raise CliError("no paired devices: pair one first (`lifelog devices pair …`)", EXIT_USAGE)
    _, interrupted = _in_worker(work)
    if args.json:
        _emit({"devices": [r.to_json() for r in results], "not_connected": absent, "cancelled": interrupted})
    cancelled_mid_sync = any(r.cancelled for r in results)
    if interrupted and (cancelled_mid_sync or not args.watch):
        return EXIT_CANCELLED
    if any(r.failed or r.not_media or r.error for r in results):
        return EXIT_PARTIAL
    return EXIT_OK


def _print_result(r: Any) -> None:
    if r.error:
        print(f"{r.device_id} ({r.label}): {r.error}")
        return
    print(
        f"{r.device_id} ({r.label}): {r.imported} imported, {r.skipped} already in memory, "
        f"{r.already_taken} taken before, {len(r.failed)} failed, {len(r.refused)} refused; "
        f"{r.bytes_downloaded / 2**20:.1f} MiB"
        + (f", {r.resumed} resumed" if r.resumed else "")
        + (f", {r.deleted} deleted from the device" if r.deleted else "")
        + (" (cancelled)" if r.cancelled else "")
        + (f" ({getattr(r, 'paused_reason', None) or 'capture is paused'}: the rest waits until capture is on)"
           if getattr(r, "paused", False) else "")
        + (" (this device is excluded: nothing is taken from it)" if getattr(r, "excluded", False) else "")
    )
    for p in getattr(r, "skipped_by_rule", []):
        print(f"  skipped: {p.name}: {p.reason}")
    for p in r.failed:
        print(f"  failed: {p.name}: {p.reason}")
    for p in r.not_media:
        print(f"  not imported: {p.name}: {p.reason}")
    for p in r.refused:
        print(f"  refused: {p.name}: {p.reason}")
    for p in r.not_deleted:
        print(f"  not deleted: {p.name}: {p.reason}")


# ------------------------------------------------------------------ record
def cmd_record(args: argparse.Namespace) -> int:
    from lifelog.api.devices import Cv2Camera, RecorderState, record_to_memory
    from lifelog.api.errors import CameraError

    if args.segment_s < 1:
        raise CliError("--segment-s must be at least 1", EXIT_USAGE)
    if args.duration is not None and args.duration <= 0:
        raise CliError("--duration must be positive", EXIT_USAGE)
    try:
        camera: Any = (
            Cv2Camera(path=args.device)
            if args.device
            else Cv2Camera(index=args.camera if args.camera is not None else 0)
        )
    except CameraError as e:
        raise CliError(str(e)) from e
    from lifelog.api import Memory

    mem = Memory(_data_dir(args))
    last = [""]

    def on_state(s: RecorderState) -> None:
        line = f"● {s.status} {s.segment or ''} segments: {s.segments_done} frames: {s.frames_recorded}"
        if (s.status != "recording" or s.frames_recorded % 100 == 0) and line != last[0]:
            last[0] = line
            print(line, file=sys.stderr, flush=True)

    print("lifelog: recording; Ctrl-C stops (the segment in progress is finished and imported)", file=sys.stderr)
    res, interrupted = _in_worker(
        lambda cancel: record_to_memory(
            mem, camera, segment_s=args.segment_s, duration_s=args.duration, cancel=cancel, on_state=on_state
        )
    )
    if res is None:
        raise CliError("recording failed")
    if args.json:
        _emit(res.to_json())
    else:
        print(f"recorded {len(res.segments)} segment(s), {res.seconds:.0f} s; imported {res.imported}")
        for f in res.failed:
            print(f"  failed: {f['path']}: {f['error']}")
    if res.error and not res.segments:
        print(f"lifelog: {res.error}", file=sys.stderr)
        return EXIT_ERROR
    if interrupted:
        return EXIT_CANCELLED
    return EXIT_PARTIAL if res.failed else EXIT_OK
