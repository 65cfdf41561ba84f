"""`kvplan measure` end to end: columns, files, errors, Ctrl-C, out of memory, lazy torch."""

import csv
import io
import json
import subprocess
import sys

import pytest
import torch

from kvplan.cli import cli
from kvplan.cli.common import run_safely

from .measure_specs import GQA
from .test_cli_estimate import kvplan

SPEC_YAML = """\
name: tiny-gqa
n_layers: 2
n_heads: 4
n_kv_heads: 2
head_dim: 16
hidden_size: 64
"""


@pytest.fixture
def spec_file(tmp_path):
    path = tmp_path / "tiny-gqa.yaml"
    path.write_text(SPEC_YAML)
    return str(path)


def test_measure_csv_has_the_columns_and_exact_bytes(spec_file):
    result = kvplan(
        "measure", spec_file, "--device", "cpu", "-d", "bf16,int8", "-c", "16", "-b", "1,2",
        "--decode-tokens", "4", "--small", "--format", "csv",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == 2 * 2
    for column in (
        "model", "device", "cache_dtype", "context", "batch", "layers", "predicted_kv_bytes",
        "measured_kv_bytes", "error_pct", "ttft_ms", "tpot_ms", "decode_tokens_per_s",
        "max_abs_logit_diff", "status", "alloc_growth_bytes", "decode_peak_bytes",
    ):  # fmt: skip
        assert column in rows[0]
    last = rows[-1]
    assert (last["cache_dtype"], last["batch"], last["status"]) == ("int8", "2", "ok")
    # 2 layers x 2 (K, V) x 2 KV heads x (16 + 2 B scale) x (16 + 4 tokens) x 2 sequences
    assert (
        last["measured_kv_bytes"]
        == last["predicted_kv_bytes"]
        == str(2 * 2 * 2 * 18 * 20 * 2)
    )
    assert last["alloc_growth_bytes"] == ""  # CUDA only


def test_measure_table_and_notes(spec_file, capsys):
    args = ["measure", spec_file, "--device", "cpu", "-c", "16", "--decode-tokens", "2"]
    assert run_safely(cli, [*args, "--small"]) == 0
    out, err = capsys.readouterr()
    assert "tiny-gqa" in out and "+0.00%" in out
    assert "note: tiny-gqa: --small" in err


def test_measure_writes_json_atomically(spec_file, tmp_path):
    target = tmp_path / "out.json"
    args = ["measure", spec_file, "--device", "cpu", "-c", "8", "--decode-tokens", "1"]
    result = kvplan(*args, "--small", "--output", str(target))
    assert result.returncode == 0, result.stderr
    (row,) = json.loads(target.read_text())
    assert (
        row["measured_kv_bytes"] == row["predicted_kv_bytes"] == 2 * 2 * 2 * 16 * 2 * 9
    )
    again = kvplan(*args, "--output", str(target))
    assert again.returncode == 2 and "--force" in again.stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the machine without CUDA")
def test_cuda_without_cuda_is_an_error_not_a_fallback(spec_file, capsys):
    assert run_safely(cli, ["measure", spec_file, "--device", "cuda"]) == 2
    out, err = capsys.readouterr()
    assert err.startswith("kvplan: error: device: cuda was asked")
    assert out == "" and "Traceback" not in err


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["-d", "int4"], "cache_dtype"),
        (["--layers", "3"], "layers"),
        (["-c", "2x"], "context"),
        (["--decode-tokens", "0"], "decode_tokens"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(spec_file, capsys, args, field):
    assert run_safely(cli, ["measure", spec_file, "--device", "cpu", *args]) == 2
    out, err = capsys.readouterr()
    assert err.startswith(f"kvplan: error: {field}:")
    assert len(err.strip().splitlines()) == 1 and out == ""


@pytest.mark.parametrize(
    "args", [["--help"], ["estimate", "llama-3.1-8b", "-c", "128k"]]
)
def test_help_and_estimate_never_import_torch(args):
    code = (
        "import sys; from kvplan.cli import main; sys.argv = ['kvplan', *sys.argv[1:]]\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_ctrl_c_keeps_and_prints_the_rows_measured_so_far(monkeypatch, capsys):
    import kvplan.measure.grid as grid

    real = grid.iter_measure

    def interrupted_after_one(plan):
        rows = real(plan)
        yield next(rows)
        raise KeyboardInterrupt

    monkeypatch.setattr(grid, "iter_measure", interrupted_after_one)
    args = [
        "measure",
        "tiny",
        "--device",
        "cpu",
        "-c",
        "8,16",
        "--decode-tokens",
        "1",
        "-f",
        "csv",
    ]
    monkeypatch.setattr("kvplan.catalog.load_spec", lambda name: GQA)
    code = run_safely(cli, args)
    out, err = capsys.readouterr()
    assert code == 130
    assert len(list(csv.DictReader(io.StringIO(out)))) == 1
    assert "interrupted: 1 of 2 points measured" in err


def test_ctrl_c_before_any_point_writes_nothing(monkeypatch, capsys, tmp_path):
    import kvplan.measure.grid as grid

    def interrupted_at_once(plan):
        raise KeyboardInterrupt
        yield  # a generator, as iter_measure is

    monkeypatch.setattr(grid, "iter_measure", interrupted_at_once)
    monkeypatch.setattr("kvplan.catalog.load_spec", lambda name: GQA)
    out = tmp_path / "rows.csv"
    code = run_safely(
        cli, ["measure", "tiny", "--device", "cpu", "-c", "8", "-o", str(out)]
    )
    _, err = capsys.readouterr()
    assert code == 130
    assert not out.exists()  # no header-only file
    assert "interrupted before the first point was measured: nothing written" in err


def test_a_context_past_max_positions_is_noted(monkeypatch):
    from dataclasses import replace

    from kvplan.measure.grid import plan_measure

    spec = replace(GQA, max_positions=16)
    plan = plan_measure(spec, device="cpu", context=[8, 16], decode_tokens=4)
    # 16 + 4 decode tokens = 20 run past the 16 positions the model was trained for
    assert any("context 20 exceeds its max_positions 16" in n for n in plan.notes)


def test_a_point_out_of_memory_is_a_row_and_the_grid_goes_on(monkeypatch):
    import kvplan.measure.grid as grid

    real = grid.run_point

    def oom_at_context_16(model, point):
        if point.context == 16:
            raise torch.OutOfMemoryError(
                "CUDA out of memory. Tried to allocate 2.00 GiB"
            )
        return real(model, point)

    monkeypatch.setattr(grid, "run_point", oom_at_context_16)
    rows = grid.measure(
        GQA, device="cpu", context=[8, 16, 24], decode_tokens=1, small=True
    )
    assert rows.column("status") == ["ok", "oom", "ok"]
    oom = rows[1]
    assert oom["predicted_kv_bytes"] == 2 * 2 * 2 * 16 * 2 * 17  # still predicted
    assert oom["measured_kv_bytes"] is None and oom["error_pct"] is None


def test_a_cache_larger_than_free_memory_is_oom_without_trying(monkeypatch):
    import kvplan.measure.grid as grid

    monkeypatch.setattr(grid, "_available_bytes", lambda: 1000)
    (row,) = grid.measure(GQA, device="cpu", context=8, decode_tokens=1, small=True)
    assert row["status"].startswith("oom (needs")


def test_measure_without_torch_is_one_line_naming_the_install():
    """A sizing-only install (no torch) gets one line, exit 2, not an import traceback."""
    import subprocess
    import sys

    script = (  # torch made invisible, as in a `pip install .` without the measure extra
        "import importlib.util, sys\n"
        "real = importlib.util.find_spec\n"
        "importlib.util.find_spec = lambda name, *a: None if name == 'torch' else real(name, *a)\n"
        "from kvplan.cli import main\n"
        "sys.argv = ['kvplan', 'measure', 'gpt2']\n"
        "main()\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "kvplan: error: measure: kvplan measure runs PyTorch, which is not installed: "
        'pip install torch==2.13.0 (or pip install "kvplan[measure]")'
    ]
