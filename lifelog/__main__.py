"""``python -m lifelog``: the ``lifelog`` command."""

from lifelog.commands.main import main

raise SystemExit(main())
