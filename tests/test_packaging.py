"""The package list in pyproject.toml: a plain `pip install .` must ship every subpackage."""

from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python 3.11+; the project also runs on 3.10

ROOT = Path(__file__).resolve().parent.parent


def test_every_subpackage_is_listed_for_a_non_editable_install():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    listed = set(config["tool"]["setuptools"]["packages"])
    found = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for init in (ROOT / "kvplan").rglob("__init__.py")
    }
    assert found <= listed, f"missing from pyproject.toml: {sorted(found - listed)}"
    assert "kvplan.model_specs" in listed  # the shipped specs, from model_specs/


def test_the_shipped_specs_are_package_data():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    setuptools = config["tool"]["setuptools"]
    assert setuptools["package-dir"]["kvplan.model_specs"] == "model_specs"
    assert "*.yaml" in setuptools["package-data"]["kvplan.model_specs"]
