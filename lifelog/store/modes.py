"""Keeping a memory's files private to the user who owns them.

A data dir holds the memory's metadata in the clear (paths, times, labels, vectors in LanceDB)
and footage received from devices (``originals/``), so nothing in it may be readable by other
local users: folders are 0700, files 0600 (``docs/privacy.md``, "Who can read the data dir").

Two mechanisms, because many writers create files (LanceDB's Rust code, the vault, the import
journal, the Wi-Fi receiver, sync) and not all of them take a mode:

* :func:`use_private_umask` — the entry points (the ``lifelog`` command, the desktop app) set
  the process umask to 0o077 before anything is written, so every file and folder any code of
  the process creates is private from the start, LanceDB's included. The core never changes
  the umask of a process that merely imports it.
* :func:`make_private` — on opening a memory, every entry under the data dir that group or
  others can access is narrowed to its owner bits (0644 → 0600, 0755 → 0700). It repairs
  memories made before this rule, or written by a process without the umask (a script using
  the library), and reports what it changed so the front end can say so.

Symbolic links are never followed nor changed (a link inside the data dir must not make lifelog
chmod a file elsewhere); the data dir itself may be a link the user made (it is resolved).
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

PRIVATE_UMASK = 0o077
OPEN_BITS = 0o077  # group and other permission bits


def use_private_umask() -> int:
    """Make every file the process creates from now on private (umask 0o077); returns the old umask."""
    return os.umask(PRIVATE_UMASK)


@dataclass
class ModeRepair:
    """What :func:`make_private` changed under one data dir."""

    root: Path
    root_fixed: bool = False  # the data dir itself was open to others
    root_empty: bool = True  # ... and held nothing (a folder just made for a new memory)
    dirs: int = 0  # folders below the data dir made 0700
    files: int = 0  # files (anything not a folder) below the data dir made owner-only
    failed: list[str] = field(default_factory=list)  # paths that could not be changed (not ours)

    @property
    def exposed(self) -> bool:
        """Whether anything of the memory was open to other users (an empty new folder is not)."""
        return bool(self.dirs or self.files or (self.root_fixed and not self.root_empty))

    def message(self) -> str | None:
        """One sentence for the user, or None when there is nothing to say."""
        parts: list[str] = []
        if self.exposed:
            what = []
            if self.files:
                what.append(f"{self.files} file(s)")
            if self.dirs or self.root_fixed:
                what.append(f"{self.dirs + int(self.root_fixed)} folder(s)")
            parts.append(
                f"the memory at {self.root} was readable by other users: made {' and '.join(what)} "
                "private (folders 0700, files 0600)"
            )
        if self.failed:
            shown = ", ".join(self.failed[:3]) + (" …" if len(self.failed) > 3 else "")
            parts.append(f"could not make {len(self.failed)} path(s) private (owned by another user?): {shown}")
        return "; ".join(parts) if parts else None


def _narrow(path: str | Path, mode: int, *, is_dir: bool, follow: bool = False) -> bool:
    """Keep only the owner's bits of ``mode``; False if ``path`` turned out to be a link."""
    new = stat.S_IMODE(mode) & 0o700
    if is_dir:
        new |= 0o700  # the owner must keep entering its own folders
    try:
        # Without following: an entry swapped for a link since it was looked at is left alone
        # (Linux cannot chmod a link itself and says so).
        os.chmod(path, new, follow_symlinks=follow)
    except NotImplementedError:
        return False
    return True


def make_private(root: Path) -> ModeRepair:
    """Take group and other access away from ``root`` and everything below it; report what changed.

    Only entries that are open (any of the 0o077 bits set) are touched, so a private memory costs
    one ``lstat`` per entry and no write. Entries that vanish meanwhile (another process writing)
    are skipped; entries that cannot be changed (owned by someone else) are listed in ``failed``.
    """
    rep = ModeRepair(root)
    try:
        st = os.stat(root)
    except FileNotFoundError:
        return rep
    if not stat.S_ISDIR(st.st_mode):
        raise NotADirectoryError(f"{root} is not a folder")
    if st.st_mode & OPEN_BITS:
        try:
            with os.scandir(root) as it:
                rep.root_empty = next(it, None) is None
            _narrow(root, st.st_mode, is_dir=True, follow=True)
            rep.root_fixed = True
        except OSError:  # not ours, or a read-only filesystem (nobody can write there either)
            rep.failed.append(str(root))
    stack = [str(root)]
    while stack:
        folder = stack.pop()
        try:
            it = os.scandir(folder)
        except (FileNotFoundError, NotADirectoryError):
            continue
        except PermissionError:
            rep.failed.append(folder)
            continue
        with it:
            for e in it:
                try:
                    est = e.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue
                if stat.S_ISLNK(est.st_mode):
                    continue  # never follow, never change a link
                is_dir = stat.S_ISDIR(est.st_mode)
                if is_dir:
                    stack.append(e.path)
                if not est.st_mode & OPEN_BITS:
                    continue
                try:
                    if not _narrow(e.path, est.st_mode, is_dir=is_dir):
                        continue
                except FileNotFoundError:
                    continue
                except OSError:  # not ours, or a read-only filesystem
                    rep.failed.append(e.path)
                    continue
                if is_dir:
                    rep.dirs += 1
                else:
                    rep.files += 1
    return rep
