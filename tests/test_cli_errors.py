"""Every way a command can fail ends the same way: one `kvplan: error:` line, exit 2."""

import resource
import subprocess
import sys

import pytest

ENV = {"NO_COLOR": "1", "PATH": "/usr/bin:/bin"}


def kvplan(*args, stdout=subprocess.PIPE, preexec_fn=None, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "kvplan", *args],
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
        preexec_fn=preexec_fn,
        cwd=cwd,
    )


def one_error_line(result, *fragments):
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("kvplan: error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["estimate", "-f", "xml", "llama-3.1-8b"], "'--format'"),
        (["estimate", "--mla", "foo", "llama-3.1-8b"], "'--mla'"),
        (["estimate", "-o", "/tmp", "llama-3.1-8b"], "'--output'"),
        (["estimate"], "MODELS"),
        (["estimate", "llama-3.1-8b", "--nope"], "--nope"),
        (["capacity"], "MODELS"),
        (["capacity", "llama-3.1-8b", "-f", "xml"], "'--format'"),
        (["check"], "LOGFILE"),
        (["models", "--format", "yaml"], "'--format'"),
        (["gpus", "-f", "xml"], "'--format'"),
        (["spec"], "MODEL"),
        (["nosuch"], "nosuch"),
    ],
)
def test_usage_errors_are_one_line_naming_the_option(args, named):
    one_error_line(kvplan(*args), named, "--help")


def test_an_empty_output_path_is_refused_and_dash_is_stdout():
    one_error_line(kvplan("estimate", "llama-3.1-8b", "-o", ""), "empty path")
    result = kvplan("estimate", "llama-3.1-8b", "-o", "-", "-f", "csv")
    assert result.returncode == 0 and result.stdout.startswith("model,engine,")


def test_a_full_disk_on_stdout_is_an_error_not_a_success():
    with open("/dev/full", "w") as full:
        result = kvplan("estimate", "llama-3.1-8b", "-f", "csv", stdout=full)
    one_error_line(result, "No space left on device")


def test_a_file_size_limit_on_stdout_is_an_error_not_a_truncated_success(tmp_path):
    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (1024, 1024))

    contexts = ",".join(str(c) for c in range(1, 41))  # about 3 KB of CSV
    with open(tmp_path / "out.csv", "w") as out:
        result = kvplan(
            "estimate", "llama-3.1-8b", "-c", contexts, "-f", "csv", stdout=out,
            preexec_fn=limit,
        )  # fmt: skip
    one_error_line(result, "File too large")


def test_written_rows_are_counted_in_words(tmp_path):
    result = kvplan("estimate", "llama-3.1-8b", "-o", str(tmp_path / "one.csv"))
    assert "wrote 1 row to" in result.stderr
    result = kvplan(
        "estimate", "llama-3.1-8b", "-c", "1k,2k", "-o", str(tmp_path / "two.csv")
    )
    assert "wrote 2 rows to" in result.stderr


def test_thousands_separators_are_explained():
    one_error_line(
        kvplan("estimate", "llama-3.1-8b", "-c", "1,000"),
        "commas separate values",
        "'1,000'",
    )


def test_a_table_over_the_row_limit_is_refused():
    contexts = ",".join(str(c) for c in range(1, 10_002))
    one_error_line(kvplan("estimate", "llama-3.1-8b", "-c", contexts), "--format csv")


def test_small_sizes_show_in_a_unit_that_keeps_their_digits():
    result = kvplan("estimate", "llama-3.1-8b", "-c", "1")
    assert result.returncode == 0
    assert "0.00 GiB" not in result.stdout
    assert (
        "128.00 KiB   128.00 KiB" in result.stdout
    )  # per sequence and total: 131,072 B
