"""The --impl switch loads exactly the implementation asked for."""

import subprocess
import sys
from pathlib import Path

import pytest

from specdec_course.core import impl


@pytest.fixture(autouse=True)
def restore_impl():
    before = impl.requested_impl()
    yield
    impl.activate(before)


@pytest.mark.parametrize("name", ["src", "solutions"])
def test_activate_loads_the_chosen_directory(name):
    package = impl.activate(name)
    assert Path(package.__file__).resolve().parent == impl.IMPLEMENTATIONS[name] / "specdec"
    import specdec.sampling

    assert Path(specdec.sampling.__file__).resolve().parent == impl.IMPLEMENTATIONS[name] / "specdec"


def test_switching_back_and_forth_reimports():
    impl.activate("solutions")
    import specdec.sampling as ref

    impl.activate("src")
    import specdec.sampling as stub

    assert ref is not stub
    assert "solutions" in ref.__file__ and "src" in stub.__file__


def test_a_stray_installed_specdec_cannot_win(tmp_path, monkeypatch):
    # An editable install registers an import hook that resolves `specdec`
    # to some other directory. The switch must refuse, not import it quietly.
    stray = tmp_path / "specdec"
    stray.mkdir()
    (stray / "__init__.py").write_text("")

    import importlib.machinery

    class StrayFinder:
        @classmethod
        def find_spec(cls, fullname, path=None, target=None):
            if fullname == "specdec":
                return importlib.machinery.PathFinder.find_spec(fullname, [str(tmp_path)])
            return None

    monkeypatch.setattr(sys, "meta_path", [StrayFinder, *sys.meta_path])
    with pytest.raises(impl.ImplementationError, match="imported specdec from"):
        impl.activate("solutions")


def test_unknown_name_is_a_clear_error():
    with pytest.raises(impl.ImplementationError, match="choose one of"):
        impl.requested_impl("reference")


@pytest.mark.parametrize("name", ["src", "solutions"])
def test_pytest_header_names_the_implementation(name):
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--impl", name, "--collect-only",
         "tests/course/test_blas.py", "-p", "no:cacheprovider"],
        cwd=impl.REPO_ROOT, capture_output=True, text=True,
    )
    expected = f"specdec implementation: {name} ({impl.IMPLEMENTATIONS[name] / 'specdec'})"
    assert expected in proc.stdout, proc.stdout[-2000:]


def test_environment_variable_selects_for_the_cli(monkeypatch):
    monkeypatch.setenv(impl.ENV_VAR, "solutions")
    assert impl.requested_impl() == "solutions"
    assert impl.requested_impl("src") == "src", "an explicit --impl wins over the environment"
