"""`kvplan capacity` and `kvplan gpus` end to end: formats, files, bad input, imports."""

import csv
import io
import json
import subprocess
import sys

import pytest

from .conftest import DATA
from .test_cli_estimate import kvplan

WEIGHTLESS = str(DATA / "specs" / "qwen1.5-7b.yaml")  # a spec with no weights: block

README_COMMAND = (
    "capacity",
    "llama-3.1-70b",
    "--gpu",
    "h100",
    "--tp",
    "4",
    "--dtype",
    "fp8",
)


def test_readme_command_prints_budget_tokens_and_concurrency():
    result = kvplan(*README_COMMAND, "--context", "32k")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "KV budget" in out and "36.59 GiB" in out  # per GPU
    assert "40.00 KiB" in out  # 80 layers x K,V x 2 heads x 128 x 1 B
    assert "959,056" in out  # tokens the cache holds
    assert "29.27x" in out  # requests of 32k at once
    assert "KV budget = 79.19 GiB (runtime memory) x 0.9" in result.stderr


def test_csv_and_json_carry_the_documented_columns():
    rows = list(
        csv.DictReader(io.StringIO(kvplan(*README_COMMAND, "-f", "csv").stdout))
    )
    for column in (
        "model", "gpu", "tp", "pp", "cache_dtype", "context", "batch", "params",
        "weight_bytes_per_gpu", "kv_budget_bytes_per_gpu", "kv_bytes_per_token_per_gpu",
        "cache_tokens", "max_concurrency", "max_requests", "max_context", "fits",
        "tpot_floor_ms", "ttft_floor_ms",
    ):  # fmt: skip
        assert column in rows[0], column
    assert rows[0]["kv_bytes_per_token_per_gpu"] == str(80 * 2 * 2 * 128)
    data = json.loads(kvplan(*README_COMMAND, "-f", "json").stdout)
    assert data[0]["params"] == 70_553_706_496 and data[0]["fits"] is True


def test_a_rounded_budget_from_a_log_is_floored_with_a_note():
    result = kvplan("capacity", "llama-3.1-8b", "--kv-budget", "3.81GiB", "-c", "20000")
    assert result.returncode == 0, result.stderr
    assert "not a whole number of bytes" in result.stderr
    assert "31,200" in result.stdout  # 1950 blocks of 16 (vLLM logged 1952)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("llama-3.1-8b", "--gpu", "h100", "--tp", "3"),
            "TP 3 does not divide the 32 query",
        ),
        (
            ("llama-3.1-8b", "--gpu", "h100", "--pp", "33"),
            "PP 33 is larger than the 32 layers",
        ),
        (("llama-3.1-8b", "--gpu", "h100", "--memory-fraction", "0"), "(0, 1]"),
        (("llama-3.1-8b", "--gpu", "h100", "--memory-fraction", "1.5"), "(0, 1]"),
        (
            ("llama-3.1-70b", "--gpu", "l4"),
            "does not fit: Llama-3.1-70B weights need 131.42",
        ),
        (("llama-3.1-8b", "--gpu", "h1000"), "unknown GPU 'h1000'; did you mean: H100"),
        (("llama-3.1-8b",), "name a GPU (--gpu h100"),
        ((WEIGHTLESS, "--gpu", "h100"), "give --weights 16GiB"),
        (("llama-3.1-8b", "--gpu", "h100", "--weight-dtype", "nf4"), "nf4"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_nothing_written(tmp_path, args, message):
    target = tmp_path / "out.csv"
    plot = tmp_path / "out.png"
    result = kvplan("capacity", *args, "--output", str(target), "--plot", str(plot))
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    errors = [
        line for line in result.stderr.splitlines() if not line.startswith("note:")
    ]
    assert len(errors) == 1 and "Traceback" not in result.stderr
    assert not target.exists() and not plot.exists()
    assert list(tmp_path.iterdir()) == []


def test_output_file_is_refused_when_it_exists(tmp_path):
    target = tmp_path / "out.json"
    target.write_text("keep")
    result = kvplan(*README_COMMAND, "--output", str(target))
    assert result.returncode == 2 and "--force" in result.stderr
    assert target.read_text() == "keep"
    again = kvplan(*README_COMMAND, "--output", str(target), "--force")
    assert again.returncode == 0 and json.loads(target.read_text())[0]["tp"] == 4


def test_gpus_lists_the_catalog():
    result = kvplan("gpus", "-f", "json")
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    assert rows["H100 SXM"]["memory_bytes"] == 80 * 2**30
    assert rows["H100 SXM"]["visible_bytes"] == 81089 * 2**20
    assert rows["MI300X"]["fp8_flops"] == 2_614_900_000_000_000
    assert len(rows) >= 21
    table = kvplan("gpus")
    assert "Gaudi 3" in table.stdout and "79.19 GiB" in table.stdout


def test_capacity_imports_neither_torch_nor_matplotlib_nor_pandas():
    code = (
        "import sys\n"
        "from kvplan.cli import cli\n"
        "from kvplan.cli.common import run_safely\n"
        "run_safely(cli, ['capacity', 'llama-3.1-70b', '--gpu', 'h100', '--tp', '4'])\n"
        "print(sorted(m for m in ('torch', 'matplotlib', 'pandas') if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True
    )
    assert result.stdout.strip().splitlines()[-1] == "[]"
