"""``python -m lifelog``: the ``lifelog`` command.

A plain ``lifelog ask`` is handed to the memory's running service before the command's parser
and the rest of it are imported (:func:`lifelog.commands.ask.handed_over`, issue #18).
"""

import sys

from lifelog.commands.ask import handed_over


def main() -> int:
    tried, handed = handed_over(sys.argv[1:])
    if handed is not None:
        return handed
    from lifelog.commands.main import main as command

    return command(handoff_tried=tried)


if __name__ == "__main__":
    raise SystemExit(main())
