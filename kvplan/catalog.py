"""Model specs by name (the shipped model_specs/*.yaml), from spec YAML files, and `load_spec`.

A spec YAML holds the spec's own vocabulary (docs/specs.md):

    name: Llama-3.1-8B
    source: meta-llama/Llama-3.1-8B      # the Hugging Face repo it was read from
    n_layers: 32
    n_heads: 32
    n_kv_heads: 8
    head_dim: 128
    hidden_size: 4096
    layers:                              # optional: runs of layers, in order
      - {kind: full, count: 32}

Unknown keys are errors naming the file and the key; YAML tags are refused (safe loading).
"""

import difflib
import importlib.util
from collections.abc import Mapping
from functools import cache
from os import PathLike
from pathlib import Path

from kvplan.errors import SpecError, UnknownNameError
from kvplan.spec import ModelSpec
from kvplan.specfile import TOP_KEYS, spec_from_mapping
from kvplan.specfile import load_yaml as _load_yaml

__all__ = ["load_spec", "load_spec_file", "spec_from_mapping"]


@cache
def specs_dir() -> Path:
    """Where the shipped specs live (installed as the package `kvplan.model_specs`)."""
    found = importlib.util.find_spec("kvplan.model_specs")
    if found is None or not found.submodule_search_locations:
        raise SpecError("the shipped model_specs are not installed", field="model")
    return Path(list(found.submodule_search_locations)[0])


@cache
def shipped_files() -> dict[str, Path]:
    """Shipped spec files by lowercased stem."""
    return {p.stem.lower(): p for p in sorted(specs_dir().glob("*.yaml"))}


def load_spec_file(path: str | Path) -> ModelSpec:
    """A ModelSpec from a spec YAML file."""
    file = Path(path)
    return spec_from_mapping(_load_yaml(file), where=str(file), source=str(file))


def shipped_names() -> list[str]:
    """The names `kvplan models` lists (file stems)."""
    return list(shipped_files())


@cache
def _aliases() -> dict[str, str]:
    """Every name a shipped spec answers to (its name and its source repo), by stem."""
    aliases = {}
    for stem, path in shipped_files().items():
        data = _load_yaml(path)
        for alias in (data.get("name"), data.get("source")):
            if alias:
                aliases[str(alias).lower()] = stem
                aliases[str(alias).lower().rsplit("/", 1)[-1]] = stem
    return aliases


def find_shipped(name: str) -> Path:
    """The shipped spec file for a name, HF repo id or file stem, case-insensitively."""
    key = name.strip().lower()
    files = shipped_files()
    for candidate in (key, key.rsplit("/", 1)[-1]):
        if candidate in files:
            return files[candidate]
    stem = _aliases().get(key)
    if stem:
        return files[stem]
    near = difflib.get_close_matches(key, list(files), n=5, cutoff=0.6)
    raise UnknownNameError("model", name, near, field="model")


def load_shipped(name: str) -> ModelSpec:
    """A shipped spec by name."""
    return load_spec_file(find_shipped(name))


_SPEC_SUFFIXES = (".json", ".yaml", ".yml")


def looks_like_path(text: str) -> bool:
    """Whether a model argument names a file or folder rather than a shipped spec.

    A path is written as one: with a slash (`./llama-3.1-8b/`, `models/x`), a leading `~`,
    `.` or `..`, or a .json/.yaml/.yml suffix. A bare word is a shipped name even when a folder
    of that name exists here, so `kvplan estimate llama-3.1-8b` always means the same model.
    """
    return (
        "/" in text
        or "\\" in text
        or text.startswith("~")
        or text in (".", "..")
        or Path(text).suffix.lower() in _SPEC_SUFFIXES
    )


def _load_path(path: Path) -> ModelSpec:
    """A spec YAML, a config.json or a folder holding one."""
    from kvplan.textfile import file_kind

    kind = file_kind(path)
    if kind == "missing":
        raise SpecError(f"no such file: {path}", field="model")
    if kind == "folder" or path.suffix.lower() == ".json":
        from kvplan.configs import load_config

        return load_config(path)
    if path.suffix.lower() in (".yaml", ".yml"):
        return load_spec_file(path)
    raise SpecError(
        f"{path}: expected a config.json, a folder holding one, or a spec .yaml",
        field="model",
    )


def _shipped_or_local(name: str) -> ModelSpec:
    """A bare name: the shipped spec wins; a local file of that name is read only if none does."""
    from dataclasses import replace

    from kvplan.textfile import file_kind

    local = Path(name)
    kind = file_kind(local)
    try:
        spec = load_shipped(name)
    except UnknownNameError:
        if kind == "missing":
            raise
        spec = _load_path(local)
        reading = f"read the local {kind} {name} (no shipped spec has that name)"
        return replace(spec, readings=(*spec.readings, reading))
    if kind == "missing":
        return spec
    reading = (
        f"the shipped spec {name!r} was read, not the local {kind} of that name; "
        f"write ./{name} to read the {kind}"
    )
    return replace(spec, readings=(*spec.readings, reading))


def spec_from_dict(data: Mapping) -> ModelSpec:
    """A ModelSpec from a mapping: a spec YAML's keys (with n_layers or layers), else a
    Hugging Face config.json's."""
    data = dict(data)
    if set(map(str, data)) <= TOP_KEYS and ("layers" in data or "n_layers" in data):
        return spec_from_mapping(data, where="spec mapping")
    from kvplan.configs import spec_from_config

    name = data.get("name") or data.get("_name_or_path") or data.get("model_type")
    name = str(name or "config").rstrip("/").rsplit("/", 1)[-1]
    return spec_from_config(data, name=name, where=f"config mapping {name!r}")


def load_spec(model: "str | Path | ModelSpec | Mapping") -> ModelSpec:
    """A ModelSpec from a spec, a shipped name, a spec YAML, a config.json (or its folder), or
    a mapping of spec YAML or config.json keys."""
    if isinstance(model, ModelSpec):
        return model
    if isinstance(model, Mapping):
        return spec_from_dict(model)
    if not isinstance(model, (str, PathLike)):
        raise SpecError(
            "expected a shipped name, a path, a ModelSpec or a mapping of config keys, got "
            f"{type(model).__name__} {model!r}",
            field="model",
        )
    text = str(model if isinstance(model, str) else Path(model))
    if not text.strip():
        raise SpecError(
            "expected a model name or path, got an empty string", field="model"
        )
    if isinstance(model, PathLike) or looks_like_path(text):
        return _path_or_repo_id(text)
    return _shipped_or_local(text)


def _path_or_repo_id(text: str) -> ModelSpec:
    """A path that exists; else, for `org/name` without a suffix, the shipped spec of that repo."""
    from kvplan.textfile import file_kind

    path = Path(text).expanduser()
    if file_kind(path) != "missing" or path.suffix.lower() in _SPEC_SUFFIXES:
        return _load_path(path)
    try:
        return load_shipped(text)
    except UnknownNameError as error:
        near = f"; shipped specs near it: {', '.join(error.near)}" if error.near else ""
        raise SpecError(
            f"no such file or folder: {path}, and no shipped spec has that repo id{near}",
            field="model",
        ) from None
