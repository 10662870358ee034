"""The frozen program's entry point (PyInstaller, ``packaging/lifelog.spec``): the ``lifelog``
command, exactly as ``[project.scripts]`` in pyproject.toml runs it.

Started from macOS Finder (lifelog.app, no arguments) it opens the app, as a double-click should."""

import sys

from lifelog.commands.main import main

if __name__ == "__main__":
    from_finder = len(sys.argv) == 1 or sys.argv[1].startswith("-psn_")
    if sys.platform == "darwin" and ".app/Contents/MacOS/" in sys.executable and from_finder:
        sys.argv = [sys.argv[0], "app"]
    sys.exit(main())
