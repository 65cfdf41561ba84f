"""Spec YAML read strictly: types, duplicate keys, keys that do not fit a layer's kind, limits."""

import time

import pytest

from kvplan.catalog import load_spec
from kvplan.errors import SpecError
from kvplan.estimate import estimate
from kvplan.spec import MAX_LAYERS

HEAD = "name: t\nn_heads: 32\nn_kv_heads: 8\nhead_dim: 128\nhidden_size: 4096\n"


def spec_file(tmp_path, text: str):
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    return path


def refused(tmp_path, text: str, message: str) -> SpecError:
    path = spec_file(tmp_path, text)
    with pytest.raises(SpecError, match=message) as error:
        load_spec(path)
    assert str(path) in str(error.value)  # every error names the file
    return error.value


def test_a_key_given_twice_is_refused_with_its_line(tmp_path):
    error = refused(
        tmp_path, HEAD + "n_layers: 4\nn_layers: 8\n", "given twice .line 7"
    )
    assert error.field == "n_layers"


def test_kv_shared_must_be_a_boolean_not_a_string(tmp_path):
    layers = "n_layers: 2\nlayers:\n  - {kind: full, kv_shared: 'false', count: 2}\n"
    error = refused(tmp_path, HEAD + layers, "kv_shared must be true or false")
    assert error.field == "kv_shared"


def test_kv_shared_needs_equal_k_and_v_dims(tmp_path):
    layers = (
        "layers:\n  - {kind: full, kv_shared: true, head_dim_k: 128, head_dim_v: 64}\n"
    )
    refused(
        tmp_path, HEAD + layers, "kv_shared .* head_dim_k == head_dim_v, got 128 and 64"
    )


def test_mla_fields_on_a_full_layer_are_refused(tmp_path):
    layers = "layers:\n  - {kind: full, kv_lora_rank: 512}\n"
    error = refused(tmp_path, HEAD + layers, "kv_lora_rank applies only to mla layers")
    assert error.field == "kv_lora_rank"


def test_a_fractional_head_dim_names_head_dim(tmp_path):
    text = HEAD.replace("head_dim: 128", "head_dim: 128.5") + "n_layers: 2\n"
    error = refused(tmp_path, text, "head_dim must be a positive integer, got 128.5")
    assert error.field == "head_dim"


def test_an_unknown_dtype_names_dtype_and_the_file(tmp_path):
    error = refused(tmp_path, HEAD + "n_layers: 2\ndtype: bogus\n", "dtype: unknown")
    assert error.field == "dtype"
    assert "state_dtype" not in str(error)


def test_an_mla_layer_without_its_rank_says_it_is_missing(tmp_path):
    layers = "layers:\n  - {kind: mla, rope_dim: 64}\n"
    refused(tmp_path, HEAD + layers, "an mla layer needs kv_lora_rank")


def test_no_layers_at_all_names_n_layers(tmp_path):
    error = refused(tmp_path, HEAD, "missing n_layers .or a layers list.")
    assert error.field == "n_layers"


def test_a_sliding_layer_without_window_names_window(tmp_path):
    error = refused(tmp_path, HEAD + "layers: [{kind: sliding}]\n", "needs window")
    assert error.field == "window"


@pytest.mark.parametrize(
    "layers",
    [
        "layers:\n  - repeat: 1000000000000\n    layers: [{kind: full}]\n",
        "layers:\n  - {kind: full, count: 1000000000000}\n",
        "layers:\n  - repeat: 100000\n    layers: [{kind: full, count: 100000}]\n",
    ],
)
def test_absurd_layer_counts_are_refused_at_once(tmp_path, layers):
    started = time.perf_counter()
    refused(tmp_path, HEAD + layers, "at most 10,000")
    assert time.perf_counter() - started < 1  # refused before any list is built


def test_a_count_written_as_a_float_string_is_refused(tmp_path):
    refused(tmp_path, HEAD + "layers: [{kind: full, count: 1e12}]\n", "got '1e12'")


def test_the_layer_limit_is_inclusive(tmp_path):
    # 10,000 layers is the limit (MAX_LAYERS); one more is refused
    assert MAX_LAYERS == 10_000
    text = (
        HEAD
        + "layers:\n  - repeat: 5000\n    layers: [{kind: full}, {kind: sliding, window: 64}]\n"
    )
    started = time.perf_counter()
    row = estimate(load_spec(spec_file(tmp_path, text)), context=128)[0]
    assert time.perf_counter() - started < 2
    per_layer = 2 * 8 * 128 * 2  # bytes per token per layer
    assert row["kv_bytes"] == 5_000 * per_layer * 128 + 5_000 * per_layer * 64
    refused(tmp_path, text + "  - {kind: full}\n", "10,001 layers")


def test_a_spec_without_attention_may_have_no_heads(tmp_path):
    text = (
        "name: s\nn_heads: 0\nn_kv_heads: 0\nhead_dim: 0\nhidden_size: 2560\n"
        "layers: [{kind: state, conv_values: 15360, ssm_values: 81920, count: 64}]\n"
    )
    row = estimate(load_spec(spec_file(tmp_path, text)), context=4096)[0]
    assert row["kv_bytes"] == 64 * (15360 + 81920) * 2


def test_an_unreadable_folder_or_file_is_one_error(tmp_path, monkeypatch):
    import kvplan.textfile

    path = spec_file(tmp_path, HEAD + "n_layers: 2\n")

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(kvplan.textfile.os, "stat", denied)  # a folder we may not enter
    with pytest.raises(SpecError, match="cannot read .*: Permission denied"):
        load_spec(path)
    monkeypatch.undo()
    monkeypatch.setattr(type(path), "read_text", denied)  # a file we may not read
    with pytest.raises(SpecError, match="cannot read .*: Permission denied"):
        load_spec(path)


def test_a_named_pipe_is_refused_without_opening_it(tmp_path):
    import os

    fifo = tmp_path / "config.json"
    os.mkfifo(fifo)
    with pytest.raises(SpecError, match="is a named pipe, not a regular file"):
        load_spec(fifo)
