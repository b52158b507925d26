"""The ``modelreg`` parser and `main`: parse, run one command, map failures to exit codes.

Exit codes: 0 success; 1 a `RegistryError` or another expected failure such as an
unreadable local file (one line on stderr, ``modelreg: error: ...``, prefixed
``permission denied:`` for `PermissionDenied`); 2 a usage error; 130 an interrupt. Any
other exception is a bug and propagates with its traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from importlib.metadata import PackageNotFoundError, version

from registry_backends.cli import (
    commands_admin,
    commands_artifacts,
    commands_copy,
    commands_db,
    commands_mlflow,
    commands_models,
    commands_package,
    commands_runs,
    commands_serve,
    commands_tokens,
    commands_versions,
)
from registry_backends.cli.common import (
    CommandFailed,
    Context,
    Handler,
    UsageError,
    add_global_options,
)
from registry_core import InvalidVersion, PermissionDenied, RegistryError

__all__ = ["build_parser", "command_paths", "main"]

_EPILOG = """\
Examples:
  modelreg model create fraud --description 'Card fraud detector'
  modelreg version create fraud --bump minor
  modelreg artifact upload fraud 1.0.0 model.pkl config/
  modelreg log metric fraud 1.0.0 auc=0.93
  modelreg version publish fraud 1.0.0
  modelreg alias set fraud production 1.0.0
  modelreg artifact download fraud '^1' --dest out/

Run 'modelreg COMMAND --help' for a command's options and examples.
"""


def _package_version() -> str:
    try:
        return version("modelreg")
    except PackageNotFoundError:  # running from a source tree
        from registry_core import __version__

        return __version__


def build_parser() -> argparse.ArgumentParser:
    """The whole command tree: global options, groups, and leaf commands with examples."""
    parser = argparse.ArgumentParser(
        prog="modelreg",
        description="Work with a modelreg model registry: models, semantic versions,\n"
        "artifacts, metrics, aliases and settings.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_global_options(parser, suppress=False)
    parser.add_argument("--version", action="version", version=f"modelreg {_package_version()}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    commands_models.register(subparsers)
    commands_versions.register(subparsers)
    commands_artifacts.register(subparsers)
    commands_models.register_alias(subparsers)
    commands_runs.register(subparsers)
    commands_admin.register(subparsers)
    commands_tokens.register(subparsers)
    commands_db.register(subparsers)
    commands_mlflow.register(subparsers)
    commands_copy.register(subparsers)
    commands_package.register(subparsers)
    commands_serve.register(subparsers)
    return parser


def command_paths(parser: argparse.ArgumentParser | None = None) -> Iterator[tuple[str, ...]]:
    """Every leaf command as its words, e.g. ``("version", "create")`` (docs and tests);
    a command's aliases (``version get`` for ``version show``) are not listed again."""
    root = parser or build_parser()

    def walk(node: argparse.ArgumentParser, prefix: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
        subs = [a for a in node._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs:
            yield prefix
            return
        seen: set[int] = set()
        for name, child in subs[0].choices.items():
            if id(child) not in seen:
                seen.add(id(child))
                yield from walk(child, (*prefix, name))

    yield from walk(root, ())


def _exit_code(error: SystemExit) -> int:
    code = error.code
    if code is None:
        return 0
    return code if isinstance(code, int) else 2


def main(argv: list[str] | None = None) -> int:
    """Run ``modelreg`` with ``argv`` (default ``sys.argv[1:]``) and return the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as error:  # --help, --version, or a usage error argparse printed
        return _exit_code(error)
    ctx = Context(args)
    handler: Handler = args.func
    try:
        return handler(ctx)
    except UsageError as error:
        try:
            args.command_parser.error(str(error))
        except SystemExit as exited:
            return _exit_code(exited)
        raise AssertionError("ArgumentParser.error returned") from error
    except PermissionDenied as error:
        _error_line(f"permission denied: {error}")
        return 1
    except (RegistryError, CommandFailed) as error:
        _error_line(f"{error}{_hint(args, error)}")
        return 1
    except KeyboardInterrupt:
        sys.stderr.write("\nmodelreg: interrupted\n")
        return 130
    except BrokenPipeError:
        # The reader went away (`modelreg version list m | head`): stop quietly.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1


def _hint(args: argparse.Namespace, error: Exception) -> str:
    """A pointer to the likely cause when VERSION holds what was meant as a file: the
    version was left out, often because the ``$(...)`` that should have given it failed."""
    given = getattr(args, "version", None)
    if isinstance(error, InvalidVersion) and isinstance(given, str) and os.path.exists(given):
        return f" ({given!r} is a local file: was VERSION left out, or empty?)"
    return ""


def _error_line(message: str) -> None:
    line = " ".join(message.split()) or "unknown error"
    sys.stderr.write(f"modelreg: error: {line}\n")
