"""The ``lifelog`` command line: the top layer, beside the desktop app.

``main`` builds the parser and runs a subcommand; ``common`` holds what every subcommand
shares (exit codes, :class:`~lifelog.commands.common.CliError`, the progress printer); the
other modules are subcommand groups (devices and sync, the Wi-Fi receiver, image-text models).
Commands call :mod:`lifelog.api`; nothing in the core imports this package.
"""
