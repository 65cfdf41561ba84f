"""The Python API: what `kvplan.estimate` and `kvplan.load_spec` accept, and what `auto` means."""

import json

import pytest

import kvplan
from kvplan.errors import KvplanError, SpecError

from .conftest import CONFIGS, DATA

LLAMA_31_8B_PER_TOKEN = 32 * 2 * 8 * 128 * 2  # 131,072 B


def test_numpy_integers_and_whole_floats_are_accepted():
    np = pytest.importorskip("numpy")
    for context in (np.int64(4096), 4096.0, [np.int32(4096)]):
        row = kvplan.estimate("llama-3.1-8b", context=context, batch=np.int64(2))[0]
        assert row["kv_bytes"] == 2 * LLAMA_31_8B_PER_TOKEN * 4096


@pytest.mark.parametrize(
    ("keyword", "value"),
    [("context", None), ("context", 4096.5), ("batch", None), ("batch", object())],
)
def test_bad_values_raise_kvplan_errors_naming_the_field(keyword, value):
    with pytest.raises(KvplanError) as error:
        kvplan.estimate("llama-3.1-8b", **{keyword: value})
    assert error.value.field == keyword


def test_load_spec_takes_a_config_mapping():
    data = json.loads((CONFIGS / "Llama-3.1-8B.json").read_text())
    spec = kvplan.load_spec(data)
    assert kvplan.estimate(spec, context=1)[0]["kv_bytes"] == LLAMA_31_8B_PER_TOKEN


def test_load_spec_takes_a_spec_mapping():
    data = {
        "name": "tiny",
        "n_layers": 2,
        "n_heads": 4,
        "n_kv_heads": 2,
        "head_dim": 64,
        "hidden_size": 256,
    }
    spec = kvplan.load_spec(data)
    assert kvplan.estimate(spec, context=1)[0]["kv_bytes"] == 2 * 2 * 2 * 64 * 2


@pytest.mark.parametrize("model", [42, None, b"llama", ""])
def test_load_spec_refuses_what_is_not_a_model(model):
    with pytest.raises(SpecError) as error:
        kvplan.load_spec(model)
    assert error.value.field == "model"


def test_auto_on_an_fp32_checkpoint_is_two_bytes_and_said(tmp_path):
    # google/gemma-2-2b-it ships float32 weights; engines serve it in bf16
    spec = kvplan.load_spec(
        DATA / "more_configs" / "Gemma-2-2b-it-sliding-window-null.json"
    )
    assert spec.dtype == "fp32"
    rows = kvplan.estimate(spec, context=1, cache_dtype=["auto", "fp32"])
    assert rows[0]["cache_dtype"] == "bf16"
    assert rows[0]["kv_bytes"] == 26 * 2 * 4 * 256 * 2  # 2 bytes a value
    assert rows[1]["kv_bytes"] == 26 * 2 * 4 * 256 * 4
    assert any("fp32 checkpoint is served in bf16" in note for note in rows.notes)


def test_state_dtype_auto_keeps_the_configs_ssm_dtype():
    data = json.loads((DATA / "more_configs" / "Bamba-9B.json").read_text())
    data["mamba_ssm_dtype"] = "float32"
    spec = kvplan.load_spec(data)
    row = kvplan.estimate(spec, context=1, state_dtype="auto")[0]
    # conv state at the model's bf16, SSM state at the config's float32
    conv, ssm = (8192 + 2 * 128) * 3, 128 * 64 * 128
    assert row["state_bytes_per_sequence"] == 29 * (conv * 2 + ssm * 4)
    forced = kvplan.estimate(spec, context=1, state_dtype="bf16")[0]
    assert forced["state_bytes_per_sequence"] == 29 * (conv + ssm) * 2


def test_a_bare_name_is_the_shipped_spec_even_beside_a_folder_of_that_name(
    tmp_path, monkeypatch
):
    folder = tmp_path / "llama-3.1-8b"
    folder.mkdir()
    (folder / "config.json").write_text((CONFIGS / "Llama-2-7B.json").read_text())
    monkeypatch.chdir(tmp_path)
    shipped = kvplan.load_spec("llama-3.1-8b")
    assert kvplan.estimate(shipped, context=1)[0]["kv_bytes"] == LLAMA_31_8B_PER_TOKEN
    assert any("not the local folder" in text for text in shipped.readings)
    local = kvplan.load_spec("./llama-3.1-8b")
    assert kvplan.estimate(local, context=1)[0]["kv_bytes"] == 32 * 2 * 32 * 128 * 2


def test_a_bare_name_no_spec_has_reads_the_local_folder(tmp_path, monkeypatch):
    folder = tmp_path / "my-model"
    folder.mkdir()
    (folder / "config.json").write_text((CONFIGS / "Llama-2-7B.json").read_text())
    monkeypatch.chdir(tmp_path)
    spec = kvplan.load_spec("my-model")
    assert any("read the local folder my-model" in text for text in spec.readings)
