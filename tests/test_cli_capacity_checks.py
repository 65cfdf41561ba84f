"""`kvplan capacity`'s checks before any work: plot and output files, the plot extra, a
shared prefix as long as the prompt, numbers in scientific notation, a GB budget beside an
engine whose logs say GB for GiB."""

import subprocess
import sys

import pytest

from .test_cli_estimate import kvplan


def one_error_line(result) -> str:
    errors = [x for x in result.stderr.splitlines() if not x.startswith("note:")]
    assert result.returncode == 2 and len(errors) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return errors[0]


def test_plot_without_matplotlib_is_one_line_before_any_work(tmp_path):
    # a stand-in matplotlib that fails to import, as `pip install kvplan` without the extra
    fake = tmp_path / "hide" / "matplotlib"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text(
        "raise ModuleNotFoundError('No module named matplotlib', name='matplotlib')\n"
    )
    out = tmp_path / "rows.csv"
    result = subprocess.run(
        [sys.executable, "-m", "kvplan", "capacity", "gpt2", "--gpu", "h100",
         "--plot", str(tmp_path / "c.png"), "-o", str(out)],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(tmp_path / "hide"), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    line = one_error_line(result)
    assert (
        line
        == 'kvplan: error: plot: drawing needs matplotlib: pip install "kvplan[plot]"'
    )
    assert not out.exists()


def test_plot_and_output_must_be_two_files(tmp_path):
    same = tmp_path / "same.png"
    result = kvplan(
        "capacity", "gpt2", "--gpu", "h100", "--plot", str(same), "-o", str(same)
    )
    assert (
        "plot: " in one_error_line(result) and "also the --output file" in result.stderr
    )
    assert not same.exists()


@pytest.mark.parametrize(
    ("make", "plot", "message"),
    [
        (None, ".", "plot: . is a folder"),
        ("exists.png", "exists.png", "plot: "),
        (None, "x.jpg", "plot: x.jpg: expected a .png, .svg or .pdf"),
    ],
)
def test_plot_errors_name_the_plot(tmp_path, make, plot, message):
    if make:
        (tmp_path / make).write_bytes(b"keep")
    result = kvplan("capacity", "gpt2", "--gpu", "h100", "--plot", plot, cwd=tmp_path)
    assert message in one_error_line(result)
    if make:
        assert (tmp_path / make).read_bytes() == b"keep"


def test_a_shared_prefix_as_long_as_the_context_is_refused():
    result = kvplan(
        "capacity",
        "llama-3.1-8b",
        "--kv-budget",
        "10GiB",
        "-c",
        "1k",
        "--shared-prefix",
        "4k",
    )
    line = one_error_line(result)
    assert (
        "shared_prefix: a shared prefix of 4,096 tokens is not shorter than the context 1,024"
        in line
    )


@pytest.mark.parametrize(("given", "share"), [("9e-1", "0.9"), ("0.95", "0.95")])
def test_memory_fraction_in_scientific_notation(given, share):
    result = kvplan(
        "capacity", "llama-3.1-8b", "--gpu", "h100", "--memory-fraction", given
    )
    assert result.returncode == 0, result.stderr
    assert f"x {share} - weights" in result.stderr


def test_a_gb_budget_beside_sglang_shows_both_readings():
    # 20 GB = 20 x 10^9 B = 18.63 GiB; SGLang's "20 GB" would be 20 GiB = 21.47 x 10^9 B
    result = kvplan("capacity", "llama-3.1-8b", "--kv-budget", "20GB", "-e", "sglang")
    assert result.returncode == 0, result.stderr
    assert (
        f"{20 * 10**9 / 2**30:.2f}" == "18.63"
        and f"{20 * 2**30 / 10**9:.2f}" == "21.47"
    )
    assert (
        "read as 20 x 10^9 B = 18.63 GiB; sglang prints 'GB' meaning GiB"
        in result.stderr
    )
    assert "21.47 GB" in result.stderr
    plain = kvplan("capacity", "llama-3.1-8b", "--kv-budget", "20GB", "-e", "vllm")
    assert "meaning GiB" not in plain.stderr


def test_does_not_fit_says_what_exceeds_what():
    result = kvplan("capacity", "gpt2", "--gpu-memory", "1GiB")
    line = one_error_line(result)
    # 1 GiB x 0.9 = 0.90 GiB; gpt2's reserve alone is 1.19 GiB: nothing is left, said so
    assert (
        "exceed the " in line and "1.00 GiB x 0.9 = 0.90 GiB, leaving nothing" in line
    )
    assert "-0." not in line


@pytest.mark.parametrize(
    ("option", "value", "field"),
    [
        ("--weights", "16", "weights"),
        ("--params", "8", "params"),
        ("--reserve", "2", "reserve"),
        ("--kv-budget", "6.51", "kv_budget"),
        ("--gpu-memory", "80", "gpu_memory"),
    ],
)
def test_a_size_without_a_unit_is_one_line_naming_the_option(option, value, field):
    result = kvplan("capacity", "llama-3.1-8b", "--gpu", "h100", option, value)
    line = one_error_line(result)
    assert line.startswith(
        f"kvplan: error: {field}: '{value}' has no unit; write {value}"
    )
    assert result.stdout == ""


def test_bytes_with_an_explicit_b_are_bytes():
    # 17179869184 B = 16 x 2^30 B: the weights column says 16.00 GiB
    result = kvplan(
        "capacity", "llama-3.1-8b", "--gpu", "h100", "--weights", "17179869184B",
        "-f", "csv",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert ",17179869184," in result.stdout


@pytest.mark.parametrize(
    ("option", "value", "field"),
    [("-c", "4k,,8k", "context"), ("-c", "4096,", "context"), ("--tp", "2,", "tp"),
     ("--gpu", "h100,,h200", "gpu"), ("-b", "", "batch")],
)  # fmt: skip
def test_an_empty_list_value_is_one_line_naming_the_option(option, value, field):
    result = kvplan("capacity", "llama-3.1-8b", "--gpu", "h100", option, value)
    assert one_error_line(result).startswith(f"kvplan: error: {field}: ")
