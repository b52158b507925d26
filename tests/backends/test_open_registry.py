"""open_registry: URLs pick backends, lazily; third parties plug in by entry point."""

from __future__ import annotations

import shlex
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from registry_backends import _install, known_schemes, open_registry, register_backend
from registry_backends._install import install_command
from registry_core import BackendNotInstalled, InvalidInput, MemoryRepository
from registry_core.protocol import reads_are_quick


def _write_plugin(site: Path) -> None:
    """A tiny installed distribution: a module and its dist-info with one entry point."""
    (site / "tinystore_modelreg.py").write_text(
        textwrap.dedent(
            """
            from registry_core import MemoryRepository

            class TinyRepository(MemoryRepository):
                def __init__(self, url):
                    super().__init__()
                    self.url = url

            def open_repository(url, **options):
                return TinyRepository(url)
            """
        )
    )
    info = site / "tinystore_modelreg-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: tinystore-modelreg\nVersion: 1.0\n"
    )
    (info / "entry_points.txt").write_text(
        "[modelreg.backends]\ntiny = tinystore_modelreg:open_repository\n"
    )


def test_a_backend_installed_through_the_entry_point_group_opens_by_url(tmp_path: Path) -> None:
    _write_plugin(tmp_path)
    code = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(tmp_path)!r})
        from registry_backends import open_registry, known_schemes
        assert "tiny" in known_schemes(), known_schemes()
        registry = open_registry("tiny://somewhere")
        registry.create_model("m")
        print(type(registry.repository).__name__, registry.repository.url,
              registry.get_model("m").name)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["TinyRepository", "tiny://somewhere", "m"]


def test_an_unknown_scheme_lists_the_known_ones() -> None:
    with pytest.raises(InvalidInput, match=r"unknown registry URL scheme 'nope'.*file.*memory"):
        open_registry("nope://x")


def test_a_missing_driver_names_the_extra_to_install() -> None:
    register_backend("brokenstore", "modelreg_no_such_driver_module:open", extra="brokenstore")
    with pytest.raises(BackendNotInstalled) as caught:
        open_registry("brokenstore://bucket")
    assert f"install it with {install_command('brokenstore')}" in str(caught.value)
    assert "brokenstore" in known_schemes()


def test_memory_urls_with_a_name_share_storage() -> None:
    first = open_registry("memory://shared-test")
    first.create_model("m")
    assert open_registry("memory://shared-test").get_model("m").name.value == "m"
    assert isinstance(open_registry("memory://").repository, MemoryRepository)
    assert open_registry("memory://").list_models().items == ()


def test_no_url_means_modelreg_url_then_the_default_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MODELREG_URL", raising=False)
    open_registry().create_model("m")
    assert (tmp_path / "modelreg-registry" / ".modelreg" / "format.json").is_file()
    monkeypatch.setenv("MODELREG_URL", str(tmp_path / "elsewhere"))
    open_registry().create_model("n")
    assert (tmp_path / "elsewhere" / ".modelreg").is_dir()


def test_actor_opens_a_permission_checked_registry() -> None:
    registry = open_registry("memory://acting", actor="nobody")
    assert registry.actor is not None and registry.actor.user == "nobody"
    with pytest.raises(PermissionError):
        registry.create_model("m")


def test_reads_that_stay_on_this_machine_are_quick(tmp_path: Path) -> None:
    """SQLite, a local folder and memory promise reads that never wait (the server runs
    them on its event loop); a store without the promise is taken to make none."""
    assert reads_are_quick(open_registry(f"sqlite:///{tmp_path}/r.db").repository)
    assert reads_are_quick(open_registry(str(tmp_path / "folder")).repository)
    assert reads_are_quick(MemoryRepository())
    assert not reads_are_quick(object())


def test_the_install_hint_names_this_installation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_install, "_source", lambda: None)  # installed from an index
    assert install_command("s3") == f"{shlex.quote(sys.executable)} -m pip install 'modelreg[s3]'"
    monkeypatch.setattr(_install, "_source", lambda: ("/src/my modelreg", True))  # a checkout
    assert install_command("s3").endswith(" -m pip install -e '/src/my modelreg[s3]'")
    monkeypatch.setattr(_install, "_source", lambda: ("/src/modelreg", False))
    assert install_command("sql").endswith(" -m pip install '/src/modelreg[sql]'")


def test_this_installation_is_read_from_its_metadata() -> None:
    _install._source.cache_clear()
    source = _install._source()
    if source is None:  # installed from a wheel or an index
        assert install_command("s3").endswith(" -m pip install 'modelreg[s3]'")
    else:  # installed from this checkout, as the README's commands do
        assert Path(source[0]).resolve() == Path(__file__).resolve().parents[2]
        assert install_command("s3").endswith(f"{shlex.quote(source[0] + '[s3]')}")
