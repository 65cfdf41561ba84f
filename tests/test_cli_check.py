"""`kvplan check` and `kvplan estimate --engine` end to end: formats, files, exit codes."""

import csv
import io
import json
import subprocess
import sys

from .conftest import DATA
from .test_cli_estimate import kvplan

LOGS = DATA / "logs"
QWEN3_14B = str(LOGS / "vllm-v1-qwen3-14b.log")


def test_check_table_prints_each_figure_with_its_verdict():
    result = kvplan("check", QWEN3_14B, "--model", "qwen3-14b")
    assert result.returncode == 0, result.stderr
    assert "kv_cache_tokens" in result.stdout and "42,656" in result.stdout
    assert "match" in result.stdout
    assert "note: vLLM V1 log: predicted with vllm 0.10-0.20" in result.stderr


def test_check_json_rows_have_the_stable_columns():
    result = kvplan("check", QWEN3_14B, "-m", "qwen3-14b", "-f", "json")
    rows = json.loads(result.stdout)
    assert [r["figure"] for r in rows] == ["kv_cache_tokens", "max_concurrency"]
    assert (
        rows[0]
        == {
            "run": 1,
            "figure": "kv_cache_tokens",
            "unit": "tokens",
            "logged": 42656,
            "predicted": 42656,  # 6.51 GiB // (40 x 16 x 2 x 8 x 128 x 2 B) = 2,666 blocks x 16
            "diff": 0,
            "diff_pct": 0.0,
            "verdict": "match",
            "note": "from the logged 6.51 GiB",
        }
    )


def test_check_csv_header():
    result = kvplan("check", QWEN3_14B, "-m", "qwen3-14b", "-f", "csv")
    header = next(csv.reader(io.StringIO(result.stdout)))
    assert header == [
        "run",
        "figure",
        "unit",
        "logged",
        "predicted",
        "diff",
        "diff_pct",
        "verdict",
        "note",
    ]


def test_check_reads_stdin():
    result = subprocess.run(
        [sys.executable, "-m", "kvplan", "check", "-", "-m", "qwen3-14b", "-f", "json"],
        input=(LOGS / "vllm-v1-qwen3-14b.log").read_text(),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)[0]["verdict"] == "match"


def test_check_output_file_is_atomic_and_not_overwritten(tmp_path):
    out = tmp_path / "check.json"
    first = kvplan("check", QWEN3_14B, "-m", "qwen3-14b", "-o", str(out))
    assert first.returncode == 0 and json.loads(out.read_text())[0]["logged"] == 42656
    out.write_text("keep")
    second = kvplan("check", QWEN3_14B, "-m", "qwen3-14b", "-o", str(out))
    assert second.returncode == 2 and "pass --force" in second.stderr
    assert out.read_text() == "keep"


def test_check_unknown_log_is_one_line_exit_2(tmp_path):
    log = tmp_path / "server.log"
    log.write_text("INFO server started on port 8000\n")
    result = kvplan("check", str(log))
    assert result.returncode == 2
    assert result.stderr.startswith("kvplan: error: log: ")
    assert "no engine start-up lines recognised" in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_check_missing_file_and_missing_model():
    missing = kvplan("check", "no/such.log")
    assert missing.returncode == 2 and "cannot read no/such.log" in missing.stderr
    no_model = kvplan("check", QWEN3_14B)
    assert no_model.returncode == 2 and "pass --model" in no_model.stderr


def test_check_bad_engine_option_names_the_settings():
    result = kvplan("check", QWEN3_14B, "-m", "qwen3-14b", "-E", "page=4")
    assert result.returncode == 2 and "vllm has no setting 'page'" in result.stderr


# ------------------------------------------------------------------ estimate --engine


def test_estimate_gpt_oss_vllm_against_ideal():
    ideal = json.loads(kvplan("estimate", "gpt-oss-120b", "-f", "json").stdout)[0]
    vllm = json.loads(
        kvplan("estimate", "gpt-oss-120b", "-e", "vllm", "-f", "json").stdout
    )[0]
    # 4k tokens: ideal 18 x 4096 + 18 x 128 tokens x 2,048 B; vLLM 256 + 257 blocks x 18 pages
    assert ideal["kv_bytes_per_sequence"] == (18 * 4096 + 18 * 128) * 2048
    assert vllm["kv_bytes_per_sequence"] == (256 + 257) * 18 * 32768
    assert (ideal["engine"], vllm["engine"], vllm["engine_versions"]) == (
        "ideal",
        "vllm",
        "0.10-0.20",
    )


def test_estimate_explain_says_why_vllm_reserves_more():
    result = kvplan("estimate", "gpt-oss-120b", "-e", "vllm", "--explain")
    assert result.returncode == 0, result.stderr
    assert "cdiv(min(128 - 1 + 8,192, 4,096), 16) + 1 = 257 blocks" in result.stdout
    assert "window - 1 + max_num_batched_tokens in flight" in result.stdout
    assert "request = 513 block ids x 589,824 B = 302,579,712 B" in result.stdout
    assert "engine: vllm 0.10-0.20" in result.stdout


def test_estimate_engine_errors_exit_2():
    unknown = kvplan("estimate", "llama-3.1-8b", "-e", "tgi")
    assert unknown.returncode == 2 and "unknown engine 'tgi'" in unknown.stderr
    by_layer = kvplan("estimate", "llama-3.1-8b", "-e", "vllm", "--by-layer")
    assert by_layer.returncode == 2 and "without --engine" in by_layer.stderr


def test_estimate_with_an_engine_imports_neither_torch_nor_numpy():
    code = (
        "import sys\n"
        "from kvplan.cli import cli\n"
        "from kvplan.cli.common import run_safely\n"
        "run_safely(cli, ['estimate', 'gpt-oss-120b', '-e', 'vllm', '-c', '128k'])\n"
        "print(sorted(m for m in ('torch', 'pandas', 'numpy') if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True
    )
    assert result.stdout.strip().splitlines()[-1] == "[]"
