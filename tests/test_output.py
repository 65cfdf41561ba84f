"""Rendering and writing: streamed CSV/JSON equal to the plain renderings, safe file targets."""

import csv
import io
import json
import os
import stat
import threading

import pytest

from kvplan.errors import OutputError
from kvplan.estimate import estimate
from kvplan.output import (
    TABLE_MAX_ROWS,
    TableColumn,
    check_table_size,
    iter_csv,
    iter_json,
    to_table_text,
    write_atomic,
)
from kvplan.rows import Rows


@pytest.mark.parametrize(
    ("contexts", "batches"), [([1, 4096], [1, 8]), (range(1, 65), range(1, 101))]
)
def test_streamed_json_and_csv_equal_the_plain_renderings(contexts, batches):
    # the second grid has 6,400 rows: numpy columns, several chunks
    rows = estimate("gpt-oss-20b", context=list(contexts), batch=list(batches))
    plain = [dict(row) for row in rows]
    assert "".join(iter_json(rows)) == json.dumps(plain, indent=1) + "\n"
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(rows.names)
    writer.writerows([list(row.values()) for row in plain])
    assert "".join(iter_csv(rows)) == buffer.getvalue()


def test_empty_rows_are_an_empty_json_list():
    assert "".join(iter_json(Rows({"model": []}))) == "[]\n"


def test_the_table_stops_at_its_row_limit():
    assert TABLE_MAX_ROWS == 10_000
    check_table_size(Rows({"x": [0] * 10_000}))  # the limit itself is shown
    with pytest.raises(OutputError, match="10,001 rows.*--format csv"):
        check_table_size(Rows({"x": [0] * 10_001}))


def test_table_cells_are_text_not_markup_and_lines_have_no_padding():
    rows = Rows({"model": ["a[/b]", "m[bold]x"]})
    text = to_table_text(rows, [TableColumn("model", "model", numeric=False)])
    assert "a[/b]" in text and "m[bold]x" in text
    assert all(line == line.rstrip() for line in text.splitlines())


def test_a_new_file_takes_the_umask(tmp_path):
    previous = os.umask(0o027)
    try:
        path = write_atomic(tmp_path / "out.csv", "x\n", force=False)
    finally:
        os.umask(previous)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~0o027 == 0o640


def test_force_keeps_the_replaced_files_permissions(tmp_path):
    path = tmp_path / "out.csv"
    path.write_text("old\n")
    path.chmod(0o600)
    write_atomic(path, ["new", "\n"], force=True)
    assert path.read_text() == "new\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_symlink_is_written_through_to_its_target(tmp_path):
    target = tmp_path / "real.csv"
    target.write_text("old\n")
    link = tmp_path / "link.csv"
    link.symlink_to(target)
    with pytest.raises(OutputError, match="real.csv exists"):
        write_atomic(link, "new\n", force=False)
    write_atomic(link, "new\n", force=True)
    assert link.is_symlink() and target.read_text() == "new\n"


def test_a_device_is_written_through_never_replaced():
    assert write_atomic("/dev/null", "rows\n", force=False).as_posix() == "/dev/null"
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_a_named_pipe_is_written_through(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_text()))
    reader.start()
    write_atomic(fifo, "rows\n", force=False)
    reader.join(timeout=5)
    assert received == ["rows\n"] and stat.S_ISFIFO(os.stat(fifo).st_mode)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.mkdir(), "is a folder"),
        (lambda p: None, "folder .* does not exist"),
    ],
)
def test_bad_targets_are_refused_before_any_work(tmp_path, make, message):
    target = tmp_path / "out"
    make(target)
    path = target if target.exists() else tmp_path / "missing" / "out.csv"
    with pytest.raises(OutputError, match=message):
        write_atomic(path, "x", force=True)


def test_an_empty_path_is_refused():
    with pytest.raises(OutputError, match="empty path"):
        write_atomic("", "x", force=True)


def test_a_read_only_folder_is_one_error_and_leaves_nothing(tmp_path, monkeypatch):
    import kvplan.output

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(kvplan.output.tempfile, "mkstemp", denied)
    with pytest.raises(OutputError, match="cannot write .*: Permission denied"):
        write_atomic(tmp_path / "out.csv", "x", force=False)
    assert list(tmp_path.iterdir()) == []
