"""The ``modelreg`` command: every `Registry` operation from a shell.

``modelreg [--registry URL] [--as USER] [--json] [--quiet] COMMAND ...``; the URL defaults
as `open_registry` does (``$MODELREG_URL``, else ``./modelreg-registry``). `main` returns
the exit code; the console script passes it to `sys.exit`.
"""

from registry_backends.cli.app import build_parser, command_paths, main

__all__ = ["build_parser", "command_paths", "main"]
