"""System requirements checked, not crashed on (issue #18): before Qt starts, `lifelog app` names
the missing system libraries of Qt's platform plugin with the packages to install, or says there
is no display, and exits 1 — instead of the SIGABRT Qt ends the process with.

The simulated missing library is real: a copy of PySide6's own ``libqxcb.so`` whose needed
``libxcb-cursor.so.0`` is renamed (same length) to a soname no system has, next to a link to Qt's
libraries, so the dynamic linker itself reports it missing."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lifelog.api.system import GuiCheck, check_gui, chosen_platform, library_for, platform_plugins_dir

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Qt platform plugins: Linux only")

REPO = Path(__file__).resolve().parent.parent
LIFELOG = str(Path(sys.executable).with_name("lifelog"))


def _plugins() -> Path:
    d = platform_plugins_dir()
    if d is None:
        pytest.skip("PySide6 is not installed")
    return d


def _patched_plugin_dir(tmp: Path, renamed_to: bytes = b"libxcb-cursor.so.7") -> Path:
    """plugins/platforms/libqxcb.so (a copy needing ``renamed_to``) + lib -> Qt's libraries."""
    real = _plugins()
    data = (real / "libqxcb.so").read_bytes()
    needle = b"libxcb-cursor.so.0\x00"
    assert data.count(needle) == 1, "the xcb plugin no longer names libxcb-cursor.so.0 once"
    assert len(renamed_to) == len(needle) - 1
    root = tmp / "Qt"
    pdir = root / "plugins" / "platforms"
    pdir.mkdir(parents=True)
    (pdir / "libqxcb.so").write_bytes(data.replace(needle, renamed_to + b"\x00"))
    (root / "lib").symlink_to(real.parent.parent / "lib")  # the plugin's RUNPATH is $ORIGIN/../../lib
    return pdir


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM",
                                                             "XDG_SESSION_TYPE")}
    env.update(extra)
    return env


def test_a_missing_library_is_named_with_the_packages_that_provide_it(tmp_path: Path) -> None:
    pdir = _patched_plugin_dir(tmp_path)
    result = check_gui({"DISPLAY": ":0"}, plugins_dir=pdir)
    assert not result.ok
    assert result.platform == "xcb" and result.plugin == pdir / "libqxcb.so"
    assert "libxcb-cursor.so.7" in [m.soname for m in result.missing]
    msg = result.message()
    assert "libxcb-cursor.so.7" in msg
    assert "sudo apt install" in msg and "libxcb-cursor0" in msg  # Debian/Ubuntu
    assert "sudo dnf install" in msg and "xcb-util-cursor" in msg  # Fedora
    # the fallback without ldd (ctypes.util.find_library over the known list) agrees with ldd on
    # the libraries this system really lacks
    real = check_gui({"DISPLAY": ":0"})
    fallback = check_gui({"DISPLAY": ":0"}, use_ldd=False)
    assert {library_for(m.soname).debian for m in real.missing} == {m.debian for m in fallback.missing}


def test_the_real_check_on_this_machine_matches_what_the_linker_loads() -> None:
    """Whatever this machine has: every library the check calls missing cannot be loaded, and the
    check is ok exactly when nothing is missing."""
    for platform in ("xcb", "offscreen"):
        result = check_gui({}, platform=platform)
        assert result.plugin == _plugins() / f"libq{platform}.so"
        for m in result.missing:
            with pytest.raises(OSError):
                ctypes.CDLL(m.soname)
        assert result.ok == (not result.missing)
    # the X11 basics Qt's own libraries link against are either loadable or reported
    xcb = check_gui({}, platform="xcb")
    for soname in ("libxcb.so.1", "libX11.so.6", "libxkbcommon.so.0"):
        if soname not in [m.soname for m in xcb.missing]:
            ctypes.CDLL(soname)


def test_the_platform_qt_would_choose() -> None:
    assert chosen_platform({}) is None
    assert chosen_platform({"DISPLAY": ":0"}) == "xcb"
    wayland_session = {"WAYLAND_DISPLAY": "wayland-0", "XDG_SESSION_TYPE": "wayland", "DISPLAY": ":0"}
    assert chosen_platform(wayland_session) == "wayland"
    assert chosen_platform({"WAYLAND_DISPLAY": "wayland-0"}) == "wayland"
    assert chosen_platform({"QT_QPA_PLATFORM": "offscreen"}) == "offscreen"
    assert chosen_platform({"QT_QPA_PLATFORM": "wayland;xcb", "DISPLAY": ":0"}) == "wayland"
    offscreen = check_gui({"QT_QPA_PLATFORM": "offscreen"})
    assert offscreen.platform == "offscreen" and not offscreen.no_display


def test_no_display_and_no_plugin_are_said_in_words(tmp_path: Path) -> None:
    result = check_gui({})
    assert result.no_display and not result.ok
    assert "no display" in result.message() and "QT_QPA_PLATFORM=offscreen" in result.message()
    bogus = check_gui({"QT_QPA_PLATFORM": "nosuchplatform"})
    assert not bogus.ok and "no 'nosuchplatform' platform plugin" in bogus.message()
    assert "xcb" in bogus.message()  # the available ones are listed
    empty = tmp_path / "platforms"
    empty.mkdir()
    assert "no 'xcb' platform plugin" in check_gui({"DISPLAY": ":0"}, plugins_dir=empty).message()
    assert GuiCheck(platform="xcb", plugin=None).message() == ""


def test_lifelog_app_without_a_display_exits_1_with_a_message_not_a_crash(tmp_path: Path) -> None:
    out = subprocess.run([LIFELOG, "--data-dir", str(tmp_path / "memory"), "app"], env=_clean_env(),
                         capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert out.returncode == 1, (out.returncode, out.stderr)
    assert "no display found" in out.stderr
    assert not (tmp_path / "memory").exists()  # refused before anything was opened or written


def test_lifelog_app_with_a_missing_library_exits_1_before_qt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    import lifelog.api.system as system
    from lifelog.commands.main import main

    pdir = _patched_plugin_dir(tmp_path)
    monkeypatch.setattr(system, "platform_plugins_dir", lambda: pdir)
    for k in ("QT_QPA_PLATFORM", "WAYLAND_DISPLAY", "XDG_SESSION_TYPE"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("DISPLAY", ":99")
    assert main(["--data-dir", str(tmp_path / "memory"), "app"]) == 1
    err = capsys.readouterr().err
    assert "libxcb-cursor.so.7" in err and "libxcb-cursor0" in err and "xcb-util-cursor" in err
    assert not (tmp_path / "memory").exists()


def test_the_setup_script_check_warns_but_does_not_fail(tmp_path: Path) -> None:
    real = check_gui({}, platform="xcb")
    warn = subprocess.run([sys.executable, "-m", "lifelog.api.system", "--warn", "--platform", "xcb"],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert warn.returncode == 0
    strict = subprocess.run([sys.executable, "-m", "lifelog.api.system", "--platform", "xcb"],
                            capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert strict.returncode == (0 if real.ok else 1)
    for m in real.missing:
        assert m.soname in warn.stderr and m.soname in strict.stderr
    # and packaging/setup.sh calls it in warn mode
    assert "-m lifelog.api.system --warn" in (REPO / "packaging" / "setup.sh").read_text()


def _complete_plugin_dir(tmp: Path) -> Path:
    """A platforms folder whose 'xcb' plugin needs nothing this machine lacks (Qt's offscreen
    plugin under that name): the library check passes, so the display itself is what is asked."""
    real = _plugins()
    root = tmp / "Qt"
    pdir = root / "plugins" / "platforms"
    pdir.mkdir(parents=True)
    (pdir / "libqxcb.so").write_bytes((real / "libqoffscreen.so").read_bytes())
    (root / "lib").symlink_to(real.parent.parent / "lib")
    assert not check_gui({}, platform="xcb", plugins_dir=pdir).missing
    return pdir


def _no_x_server(display: str) -> None:
    if Path(f"/tmp/.X11-unix/X{display.lstrip(':')}").exists():
        pytest.skip(f"an X server may be listening on {display} here")


def test_a_display_that_does_not_answer_is_said_in_words_before_qt(tmp_path: Path) -> None:
    _no_x_server(":99")
    pdir = _complete_plugin_dir(tmp_path)
    result = check_gui({"DISPLAY": ":99"}, plugins_dir=pdir)
    assert not result.ok and not result.missing and not result.no_display
    msg = result.message()
    assert "':99'" in msg and "does not answer" in msg and "QT_QPA_PLATFORM=offscreen" in msg
    # a nonsense display name is said as such
    assert "could not be parsed" in check_gui({"DISPLAY": "not a display"}, plugins_dir=pdir).message()
    # checking what a desktop would need (packaging/setup.sh: platform given) does not ask a display
    assert check_gui({"DISPLAY": ":99"}, platform="xcb", plugins_dir=pdir).ok


def test_a_wayland_display_is_asked_through_its_socket(tmp_path: Path) -> None:
    import socket

    from lifelog.api.system import display_problem

    env = {"WAYLAND_DISPLAY": "wayland-test", "XDG_RUNTIME_DIR": str(tmp_path)}
    gone = display_problem("wayland", env)
    assert gone is not None and "'wayland-test'" in gone and "does not answer" in gone
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)  # a compositor's socket that answers
    try:
        server.bind(str(tmp_path / "wayland-test"))
        server.listen(1)
        assert display_problem("wayland", env) is None
    finally:
        server.close()
    assert "XDG_RUNTIME_DIR is not set" in (display_problem("wayland", {"WAYLAND_DISPLAY": "wayland-0"}) or "")


def test_lifelog_app_on_an_unreachable_display_exits_1_with_a_message_not_a_qt_abort(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import lifelog.api.system as system
    from lifelog.commands.main import main

    _no_x_server(":99")
    pdir = _complete_plugin_dir(tmp_path)
    monkeypatch.setattr(system, "platform_plugins_dir", lambda: pdir)  # this machine lacks xcb's libraries
    for k in ("QT_QPA_PLATFORM", "WAYLAND_DISPLAY", "XDG_SESSION_TYPE"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("DISPLAY", ":99")
    assert main(["--data-dir", str(tmp_path / "memory"), "app"]) == 1
    err = capsys.readouterr().err
    assert "the X display ':99' (DISPLAY) does not answer" in err
    assert not (tmp_path / "memory").exists()  # refused before anything was opened or written
