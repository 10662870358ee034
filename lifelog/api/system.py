"""System requirements of the desktop app, checked before Qt starts.

Qt loads one *platform plugin* (``libqxcb.so`` on an X11 desktop, ``libqwayland.so`` on
Wayland, ``libqoffscreen.so`` headless) and aborts the whole process (SIGABRT, "could not load the
Qt platform plugin") when a system library it needs is missing — libxcb-cursor0, libxcb-icccm4 and
friends are not part of every desktop install, and no Python wheel can bring them. This module
asks the dynamic linker what the plugin would load (``ldd``; where there is no ``ldd``, each known
library is looked up with ``ctypes.util.find_library``), names the missing libraries with the
packages that provide them (Debian/Ubuntu and Fedora), and says when there is no display at all.

Pure Python, no Qt import (``PySide6`` is located with ``importlib.util.find_spec``, never
imported). Used by ``lifelog app`` (:func:`lifelog.commands.main.cmd_app`) before the app is
imported, and by ``packaging/setup.sh`` as ``python -m lifelog.api.system --warn``.
"""

from __future__ import annotations

import argparse
import ctypes.util
import errno
import importlib.util
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "GuiCheck",
    "MissingLibrary",
    "check_data_dir",
    "check_gui",
    "chosen_platform",
    "data_dir_error",
    "data_dir_problem",
    "display_problem",
    "main",
    "platform_plugins_dir",
]

# soname stem (the name before ".so") -> (Debian/Ubuntu package, Fedora package). The libraries
# Qt 6's xcb, wayland and offscreen plugins and the Qt libraries under them load from the system.
PACKAGES: dict[str, tuple[str, str]] = {
    "libxcb-cursor": ("libxcb-cursor0", "xcb-util-cursor"),
    "libxcb-icccm": ("libxcb-icccm4", "xcb-util-wm"),
    "libxcb-keysyms": ("libxcb-keysyms1", "xcb-util-keysyms"),
    "libxcb-image": ("libxcb-image0", "xcb-util-image"),
    "libxcb-render-util": ("libxcb-render-util0", "xcb-util-renderutil"),
    "libxcb-util": ("libxcb-util1", "xcb-util"),
    "libxcb-randr": ("libxcb-randr0", "libxcb"),
    "libxcb-shape": ("libxcb-shape0", "libxcb"),
    "libxcb-shm": ("libxcb-shm0", "libxcb"),
    "libxcb-sync": ("libxcb-sync1", "libxcb"),
    "libxcb-xfixes": ("libxcb-xfixes0", "libxcb"),
    "libxcb-xkb": ("libxcb-xkb1", "libxcb"),
    "libxcb-render": ("libxcb-render0", "libxcb"),
    "libxcb-glx": ("libxcb-glx0", "libxcb"),
    "libxcb-xinput": ("libxcb-xinput0", "libxcb"),
    "libxcb": ("libxcb1", "libxcb"),
    "libX11-xcb": ("libx11-xcb1", "libX11-xcb"),
    "libX11": ("libx11-6", "libX11"),
    "libXau": ("libxau6", "libXau"),
    "libXdmcp": ("libxdmcp6", "libXdmcp"),
    "libxkbcommon-x11": ("libxkbcommon-x11-0", "libxkbcommon-x11"),
    "libxkbcommon": ("libxkbcommon0", "libxkbcommon"),
    "libSM": ("libsm6", "libSM"),
    "libICE": ("libice6", "libICE"),
    "libGL": ("libgl1", "libglvnd-glx"),
    "libGLX": ("libglx0", "libglvnd-glx"),
    "libEGL": ("libegl1", "libglvnd-egl"),
    "libOpenGL": ("libopengl0", "libglvnd-opengl"),
    "libGLdispatch": ("libglvnd0", "libglvnd"),
    "libfontconfig": ("libfontconfig1", "fontconfig"),
    "libfreetype": ("libfreetype6", "freetype"),
    "libglib-2.0": ("libglib2.0-0", "glib2"),
    "libgthread-2.0": ("libglib2.0-0", "glib2"),
    "libdbus-1": ("libdbus-1-3", "dbus-libs"),
    "libwayland-client": ("libwayland-client0", "libwayland-client"),
    "libwayland-cursor": ("libwayland-cursor0", "libwayland-cursor"),
    "libwayland-egl": ("libwayland-egl1", "libwayland-egl"),
}

# What the fallback (no ldd) looks up for each plugin: the libraries the plugin itself needs
# from the system, by the name ctypes.util.find_library takes.
_KNOWN_NEEDS: dict[str, tuple[str, ...]] = {
    "xcb": (
        "xcb", "xcb-cursor", "xcb-icccm", "xcb-keysyms", "xcb-image", "xcb-render-util", "xcb-util",
        "xcb-randr", "xcb-shape", "xcb-shm", "xcb-sync", "xcb-xfixes", "xcb-xkb", "xcb-render",
        "X11-xcb", "X11", "xkbcommon", "xkbcommon-x11", "GL", "EGL", "fontconfig", "freetype",
        "glib-2.0", "dbus-1",
    ),
    "wayland": (
        "wayland-client", "wayland-cursor", "wayland-egl", "xkbcommon", "GL", "EGL", "fontconfig",
        "freetype", "glib-2.0", "dbus-1",
    ),
    "offscreen": ("GL", "EGL", "fontconfig", "freetype", "glib-2.0"),
}

# Platforms that need no display server.
_HEADLESS = frozenset({"offscreen", "minimal", "minimalegl", "vnc", "linuxfb", "eglfs", "vkkhrdisplay"})


@dataclass(frozen=True)
class MissingLibrary:
    """A shared library the platform plugin needs and the system does not have."""

    soname: str  # e.g. "libxcb-cursor.so.0"
    debian: str | None  # the Debian/Ubuntu package that provides it; None when not in our table
    fedora: str | None


@dataclass(frozen=True)
class GuiCheck:
    """What stands between this machine and the app's window, if anything."""

    platform: str  # the Qt platform plugin that would be used ("xcb", "wayland", "offscreen", ...)
    plugin: Path | None  # the plugin file checked (None: not found)
    missing: tuple[MissingLibrary, ...] = ()
    no_display: bool = False  # no QT_QPA_PLATFORM, and neither DISPLAY nor WAYLAND_DISPLAY
    problems: tuple[str, ...] = field(default=())  # other reasons, in words (no PySide6, no plugin)
    unreachable: str | None = None  # the display named (DISPLAY=:99) does not answer, in words

    @property
    def ok(self) -> bool:
        return not (self.missing or self.no_display or self.problems or self.unreachable)

    def message(self) -> str:
        """What to tell the user, several lines; empty when nothing is wrong."""
        lines: list[str] = []
        if self.no_display:
            lines.append(
                "no display found: neither DISPLAY nor WAYLAND_DISPLAY is set, so there is no desktop to "
                "open a window on. Start lifelog from a desktop session, or run it headless with "
                "QT_QPA_PLATFORM=offscreen (the command line, `lifelog service`, work without a display)."
            )
        if self.missing:
            lines.append(
                f"the desktop app cannot start: Qt's '{self.platform}' platform plugin needs system libraries "
                f"that are missing: {', '.join(m.soname for m in self.missing)}."
            )
            deb = _unique(m.debian for m in self.missing)
            fed = _unique(m.fedora for m in self.missing)
            if deb:
                lines.append(f"  Debian/Ubuntu:  sudo apt install {' '.join(deb)}")
            if fed:
                lines.append(f"  Fedora:         sudo dnf install {' '.join(fed)}")
            unknown = [m.soname for m in self.missing if m.debian is None]
            if unknown:
                lines.append(f"  (install the packages that provide {', '.join(unknown)})")
        if self.unreachable:
            lines.append(self.unreachable)
        lines.extend(self.problems)
        return "\n".join(lines)


def _unique(names: Iterable[str | None]) -> list[str]:
    out: list[str] = []
    for n in names:
        if n and n not in out:
            out.append(n)
    return out


def _stem(soname: str) -> str:
    return soname.split(".so", 1)[0]


def library_for(soname: str) -> MissingLibrary:
    deb, fed = PACKAGES.get(_stem(soname), (None, None))
    return MissingLibrary(soname=soname, debian=deb, fedora=fed)


def chosen_platform(env: Mapping[str, str] | None = None) -> str | None:
    """The platform plugin Qt would use here, or None when there is no display to use.

    ``QT_QPA_PLATFORM`` wins (its first choice: ``"wayland;xcb"`` → ``wayland``); otherwise a
    Wayland session uses ``wayland``, an X11 one ``xcb``.
    """
    env = os.environ if env is None else env
    forced = env.get("QT_QPA_PLATFORM", "").strip()
    if forced:
        return forced.split(";")[0].split(":")[0].strip() or None
    if env.get("WAYLAND_DISPLAY") and env.get("XDG_SESSION_TYPE", "").lower() == "wayland":
        return "wayland"
    if env.get("DISPLAY"):
        return "xcb"
    if env.get("WAYLAND_DISPLAY"):
        return "wayland"
    return None


def platform_plugins_dir() -> Path | None:
    """Qt's ``plugins/platforms`` folder inside the installed PySide6, found without importing it."""
    try:
        spec = importlib.util.find_spec("PySide6")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for loc in spec.submodule_search_locations:
        d = Path(loc) / "Qt" / "plugins" / "platforms"
        if d.is_dir():
            return d
    return None


def _ldd_missing(plugin: Path, ldd: str) -> list[str] | None:
    """Sonames ``ldd`` cannot resolve for ``plugin`` (direct and indirect); None if ldd failed."""
    env = {**os.environ, "LC_ALL": "C"}
    bundle = getattr(sys, "_MEIPASS", None)
    if getattr(sys, "frozen", False) and bundle:
        # The installed package (PyInstaller) keeps Qt's own libraries in its folder, where the
        # running program finds them; the linker asked from outside must look there too.
        env["LD_LIBRARY_PATH"] = os.pathsep.join(p for p in (str(bundle), env.get("LD_LIBRARY_PATH", "")) if p)
    try:
        out = subprocess.run([ldd, str(plugin)], capture_output=True, text=True, timeout=30, check=False, env=env)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0 and "not found" not in out.stdout:
        return None
    missing: list[str] = []
    for line in out.stdout.splitlines():
        name, sep, where = line.strip().partition("=>")
        if sep and where.strip() == "not found":
            soname = name.strip()
            if soname not in missing:
                missing.append(soname)
    return missing


def _lookup_missing(platform: str) -> list[str]:
    """Without ldd: the known libraries of the plugin that the linker's cache does not have."""
    missing = []
    for lib in _KNOWN_NEEDS.get(platform, ()):
        if ctypes.util.find_library(lib) is None:
            missing.append(f"lib{lib}.so")
    return missing


def check_gui(
    env: Mapping[str, str] | None = None,
    *,
    plugins_dir: Path | None = None,
    platform: str | None = None,
    use_ldd: bool = True,
    probe: bool | None = None,
) -> GuiCheck:
    """Check that Qt can open a window here, without starting Qt.

    ``plugins_dir`` overrides where the platform plugins are (default: the installed PySide6's);
    ``platform`` checks that plugin whatever the environment says (``packaging/setup.sh`` checks
    what a desktop needs while the tests run offscreen). ``use_ldd=False`` uses the fallback.
    ``probe`` asks the display the environment names whether it answers (:func:`display_problem`;
    default: when ``platform`` is not given, i.e. when checking this session).
    """
    env = os.environ if env is None else env
    if probe is None:
        probe = platform is None
    no_display = False
    if platform is None:
        platform = chosen_platform(env)
        if platform is None:
            no_display = True
            platform = "xcb"  # what a desktop started later would need; still worth checking
    if not sys.platform.startswith("linux"):
        return GuiCheck(platform=platform, plugin=None, no_display=False)
    pdir = plugins_dir if plugins_dir is not None else platform_plugins_dir()
    if pdir is None:
        return GuiCheck(
            platform=platform, plugin=None, no_display=no_display,
            problems=("the desktop app is not installed (PySide6 is missing): install lifelog with its "
                      "'app' extra, or use the lifelog package (docs/install.md)",),
        )
    plugin = pdir / f"libq{platform}.so"
    if not plugin.is_file():
        known = sorted(p.name[4:-3] for p in pdir.glob("libq*.so"))
        return GuiCheck(
            platform=platform, plugin=None, no_display=no_display,
            problems=(f"Qt has no '{platform}' platform plugin (QT_QPA_PLATFORM?); available: {', '.join(known)}",),
        )
    ldd = shutil.which("ldd") if use_ldd else None
    sonames = _ldd_missing(plugin, ldd) if ldd else None
    if sonames is None:
        sonames = _lookup_missing(platform)
    missing = tuple(library_for(s) for s in sonames)
    unreachable = None
    if probe and not (missing or no_display):
        unreachable = display_problem(platform, env)
    return GuiCheck(platform=platform, plugin=plugin, missing=missing, no_display=no_display,
                    unreachable=unreachable)


# ------------------------------------------------------------------ the display itself
_HEADLESS_HINT = ("Start lifelog from your desktop session (or fix {var}), or run it headless with "
                  "QT_QPA_PLATFORM=offscreen (the command line and `lifelog service` need no display).")
PROBE_TIMEOUT_S = 3.0


def display_problem(platform: str, env: Mapping[str, str] | None = None) -> str | None:
    """Why the display the environment names cannot be reached, in words; None when it answers
    (or when it cannot be asked here). Qt aborts the process (SIGABRT, "could not connect to
    display") when ``DISPLAY`` names an X server that is not there — a session that ended, a
    forwarded display that was closed, ``DISPLAY=:99`` left from a test run: this asks first.

    X11 (``xcb``): the same ``xcb_connect`` Qt makes (libxcb through ctypes), so a refused
    authorisation counts too. Wayland: a connection to the compositor's socket.
    """
    env = os.environ if env is None else env
    if platform == "xcb":
        name = env.get("DISPLAY", "")
        if not name:
            return None
        err = _xcb_connect_error(name)
        if err is None or err == 0:
            return None
        why = _XCB_ERRORS.get(err, f"X connection error {err}")
        return (f"cannot open a window: the X display {name!r} (DISPLAY) does not answer ({why}). "
                + _HEADLESS_HINT.format(var="DISPLAY"))
    if platform == "wayland":
        name = env.get("WAYLAND_DISPLAY", "") or "wayland-0"
        path = Path(name) if os.path.isabs(name) else Path(env.get("XDG_RUNTIME_DIR", "")) / name
        if not env.get("XDG_RUNTIME_DIR") and not os.path.isabs(name):
            return ("cannot open a window: XDG_RUNTIME_DIR is not set, so the Wayland display "
                    f"{name!r} cannot be found. " + _HEADLESS_HINT.format(var="WAYLAND_DISPLAY"))
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(PROBE_TIMEOUT_S)
            sock.connect(os.fspath(path))
        except OSError as e:
            return (f"cannot open a window: the Wayland display {name!r} (WAYLAND_DISPLAY) does not answer "
                    f"at {path} ({e.strerror or e}). " + _HEADLESS_HINT.format(var="WAYLAND_DISPLAY"))
        finally:
            sock.close()
    return None


# xcb_connection_has_error's codes (xcb.h)
_XCB_ERRORS = {
    1: "no X server is listening there, or the connection broke",
    2: "an X extension is not supported",
    3: "out of memory",
    4: "a request was too long",
    5: "the display name could not be parsed",
    6: "no such screen on that display",
    7: "a file descriptor could not be passed",
}


def _xcb_connect_error(display: str) -> int | None:
    """``xcb_connection_has_error`` of a connection to ``display`` (0: it answered), or None
    when libxcb cannot be loaded (then the missing library is what the check reports)."""
    try:
        xcb = ctypes.CDLL("libxcb.so.1")
    except OSError:
        return None
    xcb.xcb_connect.restype = ctypes.c_void_p
    xcb.xcb_connect.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
    xcb.xcb_connection_has_error.restype = ctypes.c_int
    xcb.xcb_connection_has_error.argtypes = [ctypes.c_void_p]
    xcb.xcb_disconnect.restype = None
    xcb.xcb_disconnect.argtypes = [ctypes.c_void_p]
    conn = xcb.xcb_connect(os.fsencode(display), None)
    if not conn:
        return 3
    try:
        return int(xcb.xcb_connection_has_error(conn))
    finally:
        xcb.xcb_disconnect(conn)


# ------------------------------------------------------------------ the memory folder
_MOUNT_HINT = "if it is on an external disk or a network share, connect and mount it first"


def data_dir_problem(path: Path, *, default: bool = False) -> str | None:
    """Why the memory folder ``path`` cannot be opened, in words, or None when it can (or may be
    created). A memory folder whose parent is missing too is taken for a disk or share that is
    not mounted, and is not created in its place — except the platform's default folder
    (``default``), whose parents a fresh account may not have yet. A read-only folder is no
    problem here: reading works; a command that writes says so when it tries
    (:func:`data_dir_error`)."""
    if path.exists():
        if not path.is_dir():
            return f"the memory folder {path} is not a folder"
        return None
    parent = path.parent
    if not parent.exists():
        if default:
            return None
        return (f"the memory folder {path} is missing, and so is {parent}: {_MOUNT_HINT}. "
                f"(To start a new memory there, create {parent} first.)")
    if _read_only(parent):
        return f"cannot create the memory folder {path}: {parent} is on a read-only disk or mount"
    return None


def check_data_dir(explicit: str | os.PathLike[str] | None = None) -> tuple[Path, str | None]:
    """The memory folder the front ends would open (``--data-dir``, ``$LIFELOG_HOME``, the folder
    chosen in the app, the platform default) and :func:`data_dir_problem` of it."""
    import platformdirs

    from lifelog.paths import APP_NAME, data_dir

    path = data_dir(explicit)
    default = Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))
    return path, data_dir_problem(path, default=path == default)


def data_dir_error(path: Path, err: OSError) -> str | None:
    """The words for an OS error met on the memory folder ``path`` (None: not about the folder)."""
    where = Path(err.filename) if err.filename else None
    if where is not None and not (where == path or path in where.parents or where in path.parents):
        return None
    if err.errno == errno.EROFS or (err.errno in (errno.EACCES, errno.EPERM) and _read_only(path)):
        return (f"the memory folder {path} is on a read-only disk or mount, and this needs to write to it; "
                "commands that only read (ask, episodes, status) still work — remount it read-write to change it")
    if err.errno in (errno.EACCES, errno.EPERM):
        return f"no permission to write in the memory folder {path} ({err.strerror})"
    if err.errno == errno.ENOENT:
        return f"the memory folder {path} is not there: {_MOUNT_HINT}"
    if err.errno == errno.ENOSPC:
        return f"the disk that holds the memory folder {path} is full"
    return None


def _read_only(path: Path) -> bool:
    p = path
    while not p.exists() and p != p.parent:
        p = p.parent
    try:
        return bool(os.statvfs(p).f_flag & os.ST_RDONLY) or not os.access(p, os.W_OK)
    except OSError:
        return False


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m lifelog.api.system [--platform xcb] [--warn]``: print what is missing.

    Exit 0 when the app can start (or with ``--warn``, always), 1 otherwise.
    """
    p = argparse.ArgumentParser(prog="python -m lifelog.api.system", description=main.__doc__)
    p.add_argument("--platform", help="check this Qt platform plugin (default: the one this session would use)")
    p.add_argument("--warn", action="store_true", help="report problems but exit 0 (set-up scripts)")
    args = p.parse_args(argv)
    result = check_gui(platform=args.platform)
    if result.ok:
        print(f"lifelog: the desktop app's system libraries are present (Qt platform '{result.platform}')",
              file=sys.stderr)
        return 0
    prefix = "lifelog setup: warning: " if args.warn else "lifelog: "
    print(prefix + result.message(), file=sys.stderr)
    return 0 if args.warn else 1


if __name__ == "__main__":
    sys.exit(main())
