"""`kvplan estimate` end to end: output formats, files, exit codes, and what it imports."""

import csv
import io
import json
import subprocess
import sys

import pytest

from .conftest import CONFIGS


def kvplan(*args, cwd=None):
    """Run the real command line in a fresh interpreter."""
    return subprocess.run(
        [sys.executable, "-m", "kvplan", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={"NO_COLOR": "1", "PATH": "/usr/bin:/bin"},
    )


def test_estimate_llama_31_8b_at_128k_prints_16_gib():
    result = kvplan("estimate", "llama-3.1-8b", "--context", "128k")
    assert result.returncode == 0, result.stderr
    assert "16.00 GiB" in result.stdout
    assert "128.00 KiB" in result.stdout  # 131072 bytes per token
    assert "131,072" in result.stdout


def test_csv_has_stable_columns_and_exact_bytes():
    result = kvplan(
        "estimate",
        "llama-3.1-8b",
        "-c",
        "4k,128k",
        "-b",
        "1,8",
        "-d",
        "bf16,fp8",
        "--format",
        "csv",
    )
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == 2 * 2 * 2
    for column in (
        "model",
        "cache_dtype",
        "context",
        "batch",
        "kv_bytes_per_token",
        "kv_bytes_per_sequence",
        "kv_bytes",
        "kv_gib",
    ):
        assert column in rows[0]
    last = rows[-1]
    assert (last["cache_dtype"], last["context"], last["batch"]) == (
        "fp8",
        "131072",
        "8",
    )
    assert int(last["kv_bytes"]) == 8 * 32 * 2 * 8 * 128 * 1 * 131072 + 32 * 2 * 4


def test_json_is_a_list_of_row_objects():
    result = kvplan(
        "estimate",
        str(CONFIGS / "Falcon-7B.json"),
        "-c",
        "2048",
        "-b",
        "16",
        "-f",
        "json",
    )
    rows = json.loads(result.stdout)
    assert rows[0]["kv_bytes"] == 268_435_456
    assert rows[0]["kv_bytes_per_token"] == 8192


def test_output_file_is_written_and_not_overwritten_without_force(tmp_path):
    out = tmp_path / "kv.csv"
    first = kvplan("estimate", "gpt2", "-o", str(out))
    assert first.returncode == 0
    assert out.read_text().startswith("model,engine,cache_dtype")
    second = kvplan("estimate", "gpt2", "-c", "8k", "-o", str(out))
    assert second.returncode == 2
    assert "--force" in second.stderr
    assert "4096" in out.read_text()  # untouched
    third = kvplan("estimate", "gpt2", "-c", "8k", "-o", str(out), "--force")
    assert third.returncode == 0 and "8192" in out.read_text()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["estimate", "llama-3.1-8"], "did you mean"),
        (["estimate", "llama-3.1-8b", "-c", "12q"], "context"),
        (["estimate", "llama-3.1-8b", "-c", "-5"], "context"),
        (["estimate", "llama-3.1-8b", "-b", "0"], "batch"),
        (["estimate", "llama-3.1-8b", "-d", "fp7"], "cache_dtype"),
        (["estimate", "no/such/config.json"], "no such file"),
    ],
)
def test_bad_input_is_one_line_exit_2_no_traceback(args, message, tmp_path):
    out = tmp_path / "never.csv"
    result = kvplan(*args, "-o", str(out))
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []  # no temporary file left behind


def test_malformed_config_is_one_line(tmp_path):
    bad = tmp_path / "config.json"
    bad.write_text('{"num_hidden_layers": 2,')
    result = kvplan("estimate", str(bad))
    assert result.returncode == 2
    assert "not valid JSON" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("kind", ["binary", "folder", "empty-object"])
def test_unreadable_configs(tmp_path, kind):
    if kind == "binary":
        target = tmp_path / "config.json"
        target.write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff")
    elif kind == "folder":
        target = tmp_path / "model"
        target.mkdir()
    else:
        target = tmp_path / "config.json"
        target.write_text("{}")
    result = kvplan("estimate", str(target))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_explain_shows_the_formula_with_numbers():
    result = kvplan("estimate", "gemma-2-9b", "-c", "8k", "-b", "2", "--explain")
    assert (
        "21 sliding(4096) layers x 2 (K,V) x 8 KV heads x 256 head dim x 2 B x 4096"
        in (result.stdout)
    )
    assert "= 4,227,858,432 B" in result.stdout


def test_by_layer_rows():
    result = kvplan(
        "estimate", "gpt-oss-120b", "-c", "128k", "--by-layer", "-f", "json"
    )
    rows = json.loads(result.stdout)
    assert [(r["layers"], r["layer_type"], r["tokens_held"]) for r in rows] == [
        (18, "sliding(128)", 128),
        (18, "full", 131072),
    ]


def test_notes_go_to_stderr_and_stdout_stays_clean():
    result = kvplan("estimate", str(CONFIGS / "Gemma-3-4b-it.json"), "-f", "json")
    json.loads(result.stdout)
    assert "default used: num_key_value_heads = 4" in result.stderr


def test_estimate_imports_neither_torch_nor_pandas_nor_numpy():
    code = (
        "import sys\n"
        "from kvplan.cli import cli\n"
        "from kvplan.cli.common import run_safely\n"
        "run_safely(cli, ['estimate', 'llama-3.1-8b', '-c', '128k'])\n"
        "print(sorted(m for m in ('torch', 'pandas', 'numpy') if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True
    )
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_models_lists_layouts():
    result = kvplan("models", "-f", "json")
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    assert rows["gpt-oss-120b"]["layout"] == "18 sliding(128) + 18 full"
    assert rows["llama-3.1-8b"]["kv_bytes_per_token_bf16"] == 131072


def test_spec_prints_yaml_that_loads_back(tmp_path):
    result = kvplan("spec", str(CONFIGS / "Gemma-2-9b-it.json"))
    path = tmp_path / "g.yaml"
    path.write_text(result.stdout)
    again = kvplan("estimate", str(path), "-c", "8k", "-b", "2", "-f", "json")
    assert json.loads(again.stdout)[0]["kv_bytes"] == 4_227_858_432


def test_python_api():
    import kvplan as api

    rows = api.estimate(
        "llama-3.1-8b", context=["4k", "128k"], cache_dtype=["bf16", "int8"]
    )
    assert [
        r["kv_bytes"] for r in rows
    ] == [  # model, dtype, context, batch: last fastest
        32 * 2 * 8 * 128 * 2 * 4096,
        32 * 2 * 8 * 128 * 2 * 131072,
        32 * 2 * 8 * (128 + 2) * 4096,
        32 * 2 * 8 * (128 + 2) * 131072,
    ]
    frame = rows.to_frame()
    assert list(frame["kv_bytes"]) == [r["kv_bytes"] for r in rows]
    with pytest.raises(api.KvplanError):
        api.estimate("llama-3.1-8b", context="12q")
