"""What every ``lifelog`` process does first, without importing the core (issue #18: a cold
``lifelog --version`` or the app's first window must not pay for LanceDB).

* :func:`use_private_umask` — files and folders created from now on are private (0o077);
* :func:`limit_arenas` — at most two malloc arenas (:mod:`lifelog.store.heap`: an import's
  threads otherwise keep what they freed, and many short clips took its RSS past 1 GB);
* :data:`PRIVACY_LOGGER` — the logger the memory reports repaired permissions on (the same name
  as :data:`lifelog.api.memory.PRIVACY_LOGGER`; ``tests/test_startup_faults.py`` checks it).
"""

from __future__ import annotations

from lifelog.store.heap import limit_arenas
from lifelog.store.modes import use_private_umask

PRIVACY_LOGGER = "lifelog.permissions"

__all__ = ["PRIVACY_LOGGER", "limit_arenas", "use_private_umask"]
