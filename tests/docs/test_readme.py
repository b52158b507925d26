"""The README's code blocks run verbatim, the way a newcomer runs them.

The test copies this checkout to a fresh folder (what ``git clone`` gives), runs the
README's first command there (it makes ``.venv`` and runs the main example), then every
other shell and Python block in the order the README gives them, each in a new shell or
interpreter with no activated venv and no CI or modelreg variables. A block that is not a
program (a TOML fragment, a file for a third party's package) or that runs this very
test (the test command) is preceded by a comment saying so::

    <!-- readme-test: skip (why) -->

Everything else must exit 0. Python blocks run as a script with ``.venv/bin/python``.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import textwrap
from pathlib import Path

import attrs
import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
_FENCE = re.compile(
    r"(?:<!--\s*readme-test:\s*(?P<skip>skip\b[^>]*?)\s*-->\s*\n)?"
    r"^```(?P<lang>[\w-]*)[^\n]*\n(?P<body>.*?)^```\s*$",
    re.MULTILINE | re.DOTALL,
)
#: Environment variables a laptop does not have: CI, an activated venv, modelreg's own.
_UNSET = re.compile(r"CI|GITLAB_.*|GITHUB_.*|CI_.*|VIRTUAL_ENV|PYTHON.*|MODELREG_.*|MLFLOW_.*")
_BLOCK_TIMEOUT = 600


@attrs.frozen
class Block:
    """One fenced code block of the README."""

    lang: str
    body: str
    line: int
    skip: str | None  # the reason it is not run, or None

    @property
    def name(self) -> str:
        return f"README.md:{self.line} ({self.lang})"


def readme_blocks(text: str | None = None) -> list[Block]:
    """Every fenced block, with its language, first line number and skip reason."""
    text = README.read_text(encoding="utf-8") if text is None else text
    blocks = []
    for match in _FENCE.finditer(text):
        line = text.count("\n", 0, match.start("lang")) + 1
        blocks.append(Block(match["lang"], match["body"], line, match["skip"]))
    return blocks


def test_the_fence_reader_finds_blocks_and_their_skip_notes() -> None:
    text = (
        "intro\n```bash\necho one\n```\n\n<!-- readme-test: skip (a fragment) -->\n"
        "```toml\n[x]\n```\ntext ``` inline\n```python\nprint(2)\n```\n"
    )
    blocks = readme_blocks(text)
    assert [(b.lang, b.body, b.line, b.skip) for b in blocks] == [
        ("bash", "echo one\n", 2, None),
        ("toml", "[x]\n", 7, "skip (a fragment)"),
        ("python", "print(2)\n", 11, None),
    ]


def test_every_block_is_shell_or_python_or_says_why_it_is_not_run() -> None:
    blocks = readme_blocks()
    assert len(blocks) >= 6
    for block in blocks:
        if block.skip is None:
            assert block.lang in ("bash", "python"), f"{block.name}: give a language"
        else:
            assert re.fullmatch(r"skip \(.{10,}\)", block.skip), f"{block.name}: say why"
        if block.lang == "python":
            compile(textwrap.dedent(block.body), block.name, "exec")  # fragments too


def test_the_first_block_is_the_install_and_main_job_and_ci_runs_the_test_command() -> None:
    blocks = readme_blocks()
    first, second = blocks[0], blocks[1]
    assert first.skip is None and "examples/pipeline.py" in first.body
    assert "pytest" in second.body and second.skip is not None
    assert second.body.strip().split("&&")[-1].strip().startswith(".venv/bin/python -m pytest")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert ".venv/bin/pip install -q -e '.[test]'" in ci and ".venv/bin/python -m pytest" in ci


def _laptop_environment() -> dict[str, str]:
    """This process's environment as a laptop's shell would have it: no CI variables, no
    venv on PATH, nothing of modelreg's; pip's own settings are kept."""
    env = {k: v for k, v in os.environ.items() if not _UNSET.fullmatch(k)}
    path = [p for p in env.get("PATH", "").split(os.pathsep) if p]
    env["PATH"] = os.pathsep.join(p for p in path if not (Path(p).parent / "pyvenv.cfg").exists())
    return env


def _fresh_checkout(dest: Path) -> Path:
    """The files a clone of this checkout would hold (tracked and new, not ignored)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, (os.fsdecode(n) for n in listed)):
        source = ROOT / name
        if source.is_file():
            target = dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return dest


def _run(block: Block, folder: Path, env: dict[str, str], index: int) -> None:
    if block.lang == "python":
        script = folder / f"readme_example_{index}.py"
        script.write_text(block.body, encoding="utf-8")
        argv = [str(folder / ".venv" / "bin" / "python"), script.name]
    else:
        argv = ["bash", "-c", "set -eo pipefail\n" + block.body]
    # Its own process group: whatever a failed block left running (a server started with
    # `&`) is stopped with it.
    with subprocess.Popen(
        argv,
        cwd=folder,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    ) as process:
        try:
            stdout, stderr = process.communicate(timeout=_BLOCK_TIMEOUT)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
    done = subprocess.CompletedProcess(argv, process.returncode, stdout, stderr)
    print(f"== {block.name}\n{stdout}{stderr}")
    assert done.returncode == 0, (
        f"{block.name} failed with exit code {done.returncode}\n--- block ---\n{block.body}"
        f"--- stdout ---\n{done.stdout[-4000:]}\n--- stderr ---\n{done.stderr[-4000:]}"
    )


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("git") is None, reason="needs git to list the checkout")
def test_every_readme_block_runs_verbatim_in_a_fresh_checkout(tmp_path: Path) -> None:
    folder = _fresh_checkout(tmp_path / "modelreg")
    env = _laptop_environment()
    ran = []
    for index, block in enumerate(readme_blocks()):
        if block.skip is None:
            _run(block, folder, env, index)
            ran.append(block.name)
    assert (folder / ".venv" / "bin" / "modelreg").exists()
    assert len(ran) >= 5, ran
