"""The built Linux package, as a user gets it (issue #18): build it with packaging/build_linux.sh,
install it into an empty prefix, and run it from elsewhere with nothing of the repository or its
virtual environment in reach and no network (a network namespace with no interfaces, where
``unshare`` is allowed; the offline variables in any case): ``lifelog --version``, ``lifelog demo``
and the app offscreen; then uninstall and find the prefix empty and the memory kept.

Slow: the build takes minutes in a clean clone (CI); a rerun in the same checkout reuses the
cached build (``build/package/<hash of the inputs>``). ``LIFELOG_PACKAGE_VARIANT`` picks the
variant (default: what CI builds, see docs/install.md)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lifelog import __version__

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the Linux package"),
]

REPO = Path(__file__).resolve().parent.parent
VARIANT = os.environ.get("LIFELOG_PACKAGE_VARIANT", "ci")


def _offline_prefix() -> list[str]:
    """``unshare -n`` (a new network namespace: only a loopback that is down) when allowed here."""
    unshare = shutil.which("unshare")
    if unshare and subprocess.run([unshare, "-n", "true"], capture_output=True, timeout=30).returncode == 0:
        return [unshare, "-n"]
    return []


@pytest.fixture(scope="module")
def package() -> Path:
    t0 = time.monotonic()
    out = subprocess.run(
        ["bash", str(REPO / "packaging" / "build_linux.sh"), "--no-setup", "--variant", VARIANT, "--print-dir"],
        capture_output=True, text=True, timeout=45 * 60, cwd=REPO,
    )
    assert out.returncode == 0, out.stderr[-4000:]
    pkg = Path(out.stdout.strip().splitlines()[-1])
    info = json.loads((pkg / "BUILD-INFO.json").read_text())
    print(f"\npackage {info['name']}: {info['size_kb'] // 1024} MB, PyInstaller {info['pyinstaller_seconds']} s "
          f"(this run: {time.monotonic() - t0:.0f} s, cached build reused: {'reusing' in out.stderr})")
    assert info["version"] == __version__ and info["variant"] == VARIANT
    return pkg


def _user_env(tmp: Path, prefix: Path) -> dict[str, str]:
    """A user's session with only the installed package: no repository, no venv, no network."""
    home = tmp / "home"
    for d in ("", ".config", ".cache", ".local/share"):
        (home / d).mkdir(parents=True, exist_ok=True)
    env = {
        "PATH": f"{prefix / 'bin'}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "LANG": "C.UTF-8",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        # a proxy nothing listens on: whatever would still try the network fails at once
        "http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9",
        "HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9", "no_proxy": "",
        "TMPDIR": str(tmp),
    }
    return env


def test_the_package_installs_runs_offline_and_uninstalls(package: Path, tmp_path: Path) -> None:
    prefix = tmp_path / "prefix"
    prefix.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = _user_env(tmp_path, prefix)

    # install, with nothing but the package folder
    inst = subprocess.run(["bash", str(package / "install.sh"), "--prefix", str(prefix)], env=env,
                          capture_output=True, text=True, timeout=600, cwd=elsewhere)
    assert inst.returncode == 0, inst.stderr
    assert (prefix / "bin" / "lifelog").is_symlink()
    assert (prefix / "lib" / "lifelog" / "lifelog").is_file()
    entry = (prefix / "share" / "applications" / "lifelog.desktop").read_text()
    assert f"Exec={prefix}/bin/lifelog app" in entry and "Icon=lifelog" in entry
    for size in (16, 48, 256):
        assert (prefix / "share" / "icons" / "hicolor" / f"{size}x{size}" / "apps" / "lifelog.png").is_file()
    assert (prefix / "share" / "icons" / "hicolor" / "scalable" / "apps" / "lifelog.svg").is_file()

    offline = _offline_prefix()
    run_env = {**env}

    # lifelog on the PATH, from another folder
    ver = subprocess.run([*offline, "lifelog", "--version"], env=run_env, capture_output=True, text=True,
                         timeout=300, cwd=elsewhere)
    assert ver.returncode == 0, ver.stderr
    assert ver.stdout.strip() == f"lifelog {__version__}"

    # the demo: sample media, models and all from the package, offline, no repository in reach
    t0 = time.monotonic()
    demo = subprocess.run([*offline, "lifelog", "demo", "--json"], env=run_env, capture_output=True, text=True,
                          timeout=30 * 60, cwd=elsewhere)
    demo_s = time.monotonic() - t0
    assert demo.returncode == 0, demo.stderr[-4000:]
    report = json.loads(demo.stdout)
    print(f"\nlifelog demo from the package: {demo_s:.0f} s, {report['correct']} of {report['asked']} right, "
          f"offline by {'a network namespace' if offline else 'environment only'}")
    assert report["imported"] > 0
    assert report["correct"] == report["asked"], report["questions"]
    assert report["warnings"] == [], report["warnings"]  # every analyzer's model and runtime were packaged
    demo_dir = Path(report["data_dir"])
    assert demo_dir.is_relative_to(tmp_path / "home"), demo_dir
    assert not (tmp_path / "home" / ".cache" / "lifelog" / "media").exists()  # the package's own copy was used
    assert str(REPO) not in demo.stderr

    # the app, offscreen: up after 3 s, gone cleanly on SIGTERM
    app_env = {**run_env, "QT_QPA_PLATFORM": "offscreen"}
    app = subprocess.Popen([*offline, "lifelog", "app", "--demo"], env=app_env, cwd=elsewhere,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(3)
        assert app.poll() is None, app.communicate(timeout=30)
        app.send_signal(signal.SIGTERM)
        _out, err = app.communicate(timeout=60)
    finally:
        if app.poll() is None:
            app.kill()
            app.wait(timeout=30)
    assert app.returncode == 0, (app.returncode, err[-3000:])  # SIGTERM quits through the normal exit
    assert "Traceback" not in err and "Fatal" not in err, err[-3000:]
    # the memory the app had open is usable at once (no stale lock, nothing half-written)
    print(f"app: up after 3 s, exit {app.returncode} on SIGTERM")
    demo_env = {**run_env, "LIFELOG_PASSPHRASE": "lifelog-demo"}  # no keyring here: the demo's passphrase
    status = subprocess.run([*offline, "lifelog", "--data-dir", str(demo_dir), "status", "--json"], env=demo_env,
                            capture_output=True, text=True, timeout=300, cwd=elsewhere)
    assert status.returncode == 0, status.stderr

    # uninstall: the prefix is empty again, the memory is still there
    un = subprocess.run(["bash", str(prefix / "share" / "lifelog" / "uninstall.sh"), "--prefix", str(prefix)],
                        env=env, capture_output=True, text=True, timeout=600, cwd=elsewhere)
    assert un.returncode == 0, un.stderr
    assert list(prefix.iterdir()) == [], sorted(str(p) for p in prefix.rglob("*"))[:20]
    assert (demo_dir / "settings.json").is_file() or any(demo_dir.iterdir())


def test_uninstall_removes_only_what_install_put_there(package: Path, tmp_path: Path) -> None:
    """A prefix shared with other programs (~/.local): their files, and the folders holding them,
    stay; a damaged manifest removes nothing."""
    prefix = tmp_path / "prefix"
    (prefix / "share" / "applications").mkdir(parents=True)
    (prefix / "bin").mkdir()
    other_entry = prefix / "share" / "applications" / "other.desktop"
    other_entry.write_text("[Desktop Entry]\nName=other\n")
    other_bin = prefix / "bin" / "other"
    other_bin.write_text("#!/bin/sh\n")
    env = _user_env(tmp_path, prefix)
    inst = subprocess.run(["bash", str(package / "install.sh"), "--prefix", str(prefix)], env=env,
                          capture_output=True, text=True, timeout=600)
    assert inst.returncode == 0, inst.stderr
    # a file the user dropped into a folder the install made stays, and so does its folder
    dropped = prefix / "share" / "icons" / "hicolor" / "48x48" / "apps" / "mine.png"
    dropped.write_bytes(b"not lifelog's")

    manifest = prefix / "share" / "lifelog" / "install-manifest.txt"
    good = manifest.read_text()
    manifest.write_text(good + "f ../../etc/passwd\n")
    bad = subprocess.run(["bash", str(prefix / "share" / "lifelog" / "uninstall.sh"), "--prefix", str(prefix)],
                         env=env, capture_output=True, text=True, timeout=600)
    assert bad.returncode == 1 and "damaged" in bad.stderr
    assert (prefix / "bin" / "lifelog").is_symlink()  # nothing removed
    manifest.write_text(good)

    # installing again over it replaces it (an update), with one manifest
    again = subprocess.run(["bash", str(package / "install.sh"), "--prefix", str(prefix)], env=env,
                           capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    assert "replacing" in again.stderr
    un = subprocess.run(["bash", str(prefix / "share" / "lifelog" / "uninstall.sh"), "--prefix", str(prefix)],
                        env=env, capture_output=True, text=True, timeout=600)
    assert un.returncode == 0, un.stderr
    assert other_entry.read_text().startswith("[Desktop Entry]") and other_bin.is_file()
    assert dropped.read_bytes() == b"not lifelog's"
    assert not (prefix / "lib").exists() and not (prefix / "share" / "lifelog").exists()
    assert not (prefix / "bin" / "lifelog").is_symlink()
    assert not (prefix / "share" / "applications" / "lifelog.desktop").exists()
    left = sorted(str(p.relative_to(prefix)) for p in prefix.rglob("*") if p.is_file())
    assert left == ["bin/other", "share/applications/other.desktop", "share/icons/hicolor/48x48/apps/mine.png"]
