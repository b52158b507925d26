"""What every command shares: the run context, argument types, confirmation, and the CLI's
own two failures (`UsageError` exits 2, `CommandFailed` exits 1)."""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import sys
import textwrap
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TypeAlias

from registry_backends import open_registry
from registry_backends._open import is_missing_local, registry_url
from registry_backends.cli.output import Output
from registry_core import InvalidVersion, Registry, RegistryError, Version

__all__ = [
    "GLOBAL_OPTIONS",
    "Subparsers",
    "CommandFailed",
    "Context",
    "Handler",
    "UsageError",
    "add_command",
    "add_group",
    "add_global_options",
    "confirm",
    "integer_from",
    "key_value",
    "local_files",
    "metric_value",
    "page_size",
    "to_mapping",
]


#: Help text is wrapped to this many columns, so it reads on an 80-column terminal.
HELP_WIDTH = 79

#: What `add_subparsers` returns; spelled as a string because it is not subscriptable at runtime.
Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


class UsageError(Exception):
    """A command line that parses but asks for something impossible: exit 2 with usage."""


class CommandFailed(Exception):
    """A failure outside the registry (not in CI, an unreadable local file): exit 1."""


class Context:
    """One run of the command: its parsed arguments, output, and the registry (opened late).

    The registry opens on first use, so ``--help`` and usage errors never touch storage.
    """

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.json: bool = bool(getattr(args, "json", False))
        self.quiet: bool = bool(getattr(args, "quiet", False))
        self.out = Output(json_mode=self.json, quiet=self.quiet)
        self._registry: Registry | None = None

    def registry_is_new(self) -> bool:
        """Whether ``--registry`` names a local folder or SQLite file not made yet: opening
        it would make it, which a dry run or a refused import must not."""
        return is_missing_local(registry_url(getattr(self.args, "registry", None)))

    @property
    def registry(self) -> Registry:
        """The registry at ``--registry`` (default as `open_registry`), for ``--as`` if given."""
        if self._registry is None:
            url = getattr(self.args, "registry", None)
            actor = getattr(self.args, "as_user", None)
            self._registry = open_registry(url, actor=actor)
        return self._registry


Handler = Callable[[Context], int]


def add_global_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    """The options accepted before the command (and, repeated, after it).

    ``suppress`` leaves an option out of the namespace unless given, so a subcommand's
    copy does not overwrite what was given before the command.
    """

    def default(value: object) -> object:
        return argparse.SUPPRESS if suppress else value

    group = parser.add_argument_group("global options")
    group.add_argument(
        "--registry",
        metavar="URL",
        default=default(None),
        help="registry URL or folder (default: $MODELREG_URL, else ./modelreg-registry)",
    )
    group.add_argument(
        "--as",
        dest="as_user",
        metavar="USER",
        default=default(None),
        help="act as USER: every call is checked against USER's role",
    )
    group.add_argument(
        "--json",
        action="store_true",
        default=default(False),
        help="print one JSON document on stdout instead of text",
    )
    group.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=default(False),
        help="no progress bars or confirmations; creating commands print only the identifier",
    )


GLOBAL_OPTIONS = argparse.ArgumentParser(add_help=False)
add_global_options(GLOBAL_OPTIONS, suppress=True)


def add_command(
    subparsers: Subparsers,
    name: str,
    *,
    summary: str,
    examples: Iterable[str],
    func: Handler,
    details: str = "",
    aliases: Iterable[str] = (),
) -> argparse.ArgumentParser:
    """Add a leaf command with its one-line summary, description and examples.

    ``aliases`` are other names for it (``get`` for ``show``), listed in ``--help``.
    """
    lines = [f"  {e}" for e in examples]
    description = summary[0].upper() + summary[1:] + "."
    if details:  # prose, wrapped here: the formatter keeps the examples' lines as written
        description += "\n\n" + textwrap.fill(" ".join(details.split()), width=HELP_WIDTH)
    parser = subparsers.add_parser(
        name,
        aliases=list(aliases),
        help=summary,
        description=description,
        epilog=("Example:\n" if len(lines) == 1 else "Examples:\n") + "\n".join(lines),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[GLOBAL_OPTIONS],
    )
    parser.set_defaults(func=func, command_parser=parser)
    return parser


def add_group(
    subparsers: Subparsers,
    name: str,
    *,
    summary: str,
    examples: Iterable[str],
) -> Subparsers:
    """Add a command group (``model``, ``version``...) and return its own subparsers."""
    lines = [f"  {e}" for e in examples]
    parser = subparsers.add_parser(
        name,
        help=summary,
        description=summary[0].upper() + summary[1:] + ".",
        epilog="Examples:\n" + "\n".join(lines),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return parser.add_subparsers(dest=f"{name}_command", metavar="COMMAND", required=True)


# -- argument types ---------------------------------------------------------------------


def key_value(text: str) -> tuple[str, str]:
    """``KEY=VALUE`` -> (key, value); the value may be empty and may hold ``=``."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE")
    return key, value


def metric_value(text: str) -> tuple[str, float]:
    """``KEY=NUMBER`` -> (key, float); ``nan`` and ``inf`` are numbers too."""
    key, value = key_value(text)
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"metric {key!r}: {value!r} is not a number") from None
    if math.isnan(number) and value.strip().lower() not in ("nan", "+nan", "-nan"):
        raise argparse.ArgumentTypeError(f"metric {key!r}: {value!r} is not a number")
    return key, number


def page_size(text: str) -> int:
    """An integer from 1 to 1000, as the registry's listings take."""
    return integer_from(text, 1, 1000)


def integer_from(text: str, low: int, high: int) -> int:
    """``text`` as an integer from ``low`` to ``high``; a usage error otherwise."""
    try:
        number = int(text)
    except ValueError:
        number = low - 1
    if not low <= number <= high:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer from {low} to {high}")
    return number


def to_mapping(pairs: Iterable[tuple[str, str]], what: str) -> dict[str, str]:
    """Pairs from the command line as a dict; the same key twice is a usage error."""
    result: dict[str, str] = {}
    for key, value in pairs:
        if key in result and result[key] != value:
            raise UsageError(f"{what} {key!r} is given twice")
        result[key] = value
    return result


# -- interaction ------------------------------------------------------------------------


def confirm(ctx: Context, doing: str) -> None:
    """Go on if ``--yes`` was given or the user answers y at a terminal; else refuse.

    Without a terminal there is nobody to ask: that is a usage error (pass ``--yes``).
    """
    if getattr(ctx.args, "yes", False):
        return
    stdin = sys.stdin
    if stdin is None or not stdin.isatty():
        raise UsageError(f"refusing to {doing} without confirmation: pass --yes")
    sys.stderr.write(f"{doing[0].upper()}{doing[1:]}? [y/N] ")
    sys.stderr.flush()
    answer = stdin.readline()
    if answer.strip().lower() not in ("y", "yes"):
        raise CommandFailed("aborted; nothing was deleted")


@contextlib.contextmanager
def local_files(paths: Iterable[str | os.PathLike[str]], doing: str) -> Iterator[None]:
    """Turn an `OSError` about one of the user's own local files into `CommandFailed`.

    Storage errors arrive as `RegistryError` and pass through, as does an `OSError`
    about any other file: that would be a bug, which should show its traceback.
    """
    roots = [Path(p).absolute() for p in paths]
    try:
        yield
    except RegistryError:
        raise
    except OSError as error:
        name = error.filename
        if name is None or not _under(Path(os.fsdecode(name)).absolute(), roots):
            raise
        reason = error.strerror or str(error)
        raise CommandFailed(f"cannot {doing} {os.fsdecode(name)!r}: {reason}") from error


def _under(path: Path, roots: list[Path]) -> bool:
    return any(path == root or root in path.parents for root in roots)


def read_version(ctx: Context, model: str, spec: str) -> str:
    """An exact version as given, else what ``spec`` resolves to (alias, ``latest``, range).

    Read-only commands take any spec, so ``artifact download fraud production`` works;
    commands that change a version need its exact number.
    """
    try:
        Version.parse(spec)
    except InvalidVersion:
        return str(ctx.registry.resolve(model, spec).version)
    return spec
