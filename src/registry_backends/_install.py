"""The pip command that adds an extra to *this* installation of modelreg.

Installed from PyPI, that is ``pip install 'modelreg[s3]'``. Installed from a checkout
(``pip install -e .``, as the README does), that command would look for modelreg on PyPI
and fail, so the hint names the checkout instead. Either way it runs pip through the
interpreter that is running now, which is right whether or not a venv is activated.
"""

from __future__ import annotations

import functools
import json
import shlex
import sys
from importlib.metadata import PackageNotFoundError, distribution
from urllib.parse import unquote, urlsplit

__all__ = ["install_command"]


@functools.cache
def _source() -> tuple[str, bool] | None:
    """(folder, editable) when modelreg was installed from a local folder, else None."""
    try:
        text = distribution("modelreg").read_text("direct_url.json")
    except PackageNotFoundError:
        return None
    if not text:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    url = urlsplit(str(data.get("url", "")))
    dir_info = data.get("dir_info")
    if url.scheme != "file" or not isinstance(dir_info, dict):
        return None
    return unquote(url.path), bool(dir_info.get("editable"))


def install_command(extra: str) -> str:
    """E.g. ``/home/ana/modelreg/.venv/bin/python -m pip install -e '/home/ana/modelreg[s3]'``."""
    pip = f"{shlex.quote(sys.executable)} -m pip install"
    source = _source()
    if source is None:
        return f"{pip} {shlex.quote(f'modelreg[{extra}]')}"
    folder, editable = source
    return f"{pip}{' -e' if editable else ''} {shlex.quote(f'{folder}[{extra}]')}"
