"""``python -m lifelog``: the ``lifelog`` command."""

from lifelog.commands.main import main

if __name__ == "__main__":
    raise SystemExit(main())
