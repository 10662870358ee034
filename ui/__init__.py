"""The lifelog desktop app (PySide6). Talks to the core only through :mod:`lifelog.api`."""
