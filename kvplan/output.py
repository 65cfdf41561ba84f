"""Rows -> terminal table, CSV or JSON; files written atomically, never half-written.

Every command builds its Rows once; the three renderings come from the same rows, so the
CSV/JSON columns are the stable names documented in docs/columns.md and the table is a view of
some of them in human units. CSV and JSON are produced in chunks straight from the columns (no
per-row dicts), so a million-row grid streams; the table is for reading and is refused above
TABLE_MAX_ROWS rows.

Where output goes (`--output`):
- a new path: written through a temporary file in the same folder, then renamed into place,
  with the permissions a new file gets under the umask;
- an existing regular file: only with --force, atomically, keeping that file's permissions;
- a symbolic link: the file it points to is written (atomically, as above); the link stays;
- a character device or named pipe (/dev/null, /dev/stdout, a FIFO): written through, never
  replaced, and needs no --force (nothing is overwritten);
- a folder, socket or block device: refused.
"""

import csv
import io
import json
import math
import os
import stat
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from kvplan.errors import OutputError
from kvplan.rows import Rows

FORMATS = ("table", "csv", "json")

# The table is for people: beyond this many rows, CSV or JSON (or a file) is the way.
TABLE_MAX_ROWS = 10_000

_CHUNK_ROWS = 10_000


@dataclass(frozen=True)
class TableColumn:
    """One column of the terminal table: its header, the row key, how to show a value."""

    header: str
    key: str | Callable[[dict], object]  # a row key, or a function of the row
    show: Callable[[object], str] = str
    numeric: bool = True

    def cell(self, row: dict) -> str:
        value = self.key(row) if callable(self.key) else row[self.key]
        return self.show(value)


def _chunks(rows: Rows) -> Iterator[list[tuple]]:
    """The rows as value tuples, a chunk at a time (plain Python values, exact ints)."""
    names = rows.names
    for start in range(0, len(rows), _CHUNK_ROWS):
        stop = start + _CHUNK_ROWS
        columns = [rows.column_slice(name, start, stop) for name in names]
        yield list(zip(*columns, strict=True))


def iter_csv(rows: Rows) -> Iterator[str]:
    """CSV text with a header row, in chunks; integers stay exact, floats keep full precision."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(rows.names)
    for chunk in _chunks(rows):
        writer.writerows(chunk)
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    yield buffer.getvalue()


def _json_value(value, strings: dict) -> str:
    """One value as JSON text; repeated strings are encoded once."""
    kind = type(value)
    if kind is int:
        return str(value)
    if kind is float and math.isfinite(value):
        return repr(value)
    if kind is str:
        text = strings.get(value)
        if text is None:
            text = strings[value] = json.dumps(value)
        return text
    return json.dumps(value)


def iter_json(rows: Rows) -> Iterator[str]:
    """A JSON list of row objects (json.dumps(..., indent=1)'s layout), in chunks."""
    if not len(rows):
        yield "[]\n"
        return
    body = ",\n".join(f"  {json.dumps(name)}: %s" for name in rows.names)
    template = " {\n" + body + "\n }"
    strings: dict = {}
    yield "[\n"
    first = True
    for chunk in _chunks(rows):
        text = ",\n".join(
            template % tuple(_json_value(v, strings) for v in values)
            for values in chunk
        )
        yield text if first else ",\n" + text
        first = False
    yield "\n]\n"


def to_csv(rows: Rows) -> str:
    """CSV text with a header row."""
    return "".join(iter_csv(rows))


def to_json(rows: Rows) -> str:
    """A JSON list of row objects."""
    return "".join(iter_json(rows))


def _rich_table(rows: Rows, columns: Sequence[TableColumn], title: str):
    from rich import box
    from rich.table import Table
    from rich.text import Text

    # Text cells: a model named "a[/b]" is shown as written, never read as markup
    table = Table(
        title=Text(title) if title else None, box=box.SIMPLE_HEAD, title_justify="left"
    )
    for column in columns:
        table.add_column(column.header, justify="right" if column.numeric else "left")
    for row in rows:
        table.add_row(*(Text(column.cell(row)) for column in columns))
    return table


def check_table_size(rows: Rows) -> None:
    """Refuse a table too long to read; say what to use instead."""
    if len(rows) > TABLE_MAX_ROWS:
        raise OutputError(
            f"{len(rows):,} rows: the table is for reading and stops at "
            f"{TABLE_MAX_ROWS:,} rows; use --format csv or --format json, or -o FILE.csv",
            field="format",
        )


def to_table_text(
    rows: Rows, columns: Sequence[TableColumn], *, title: str = ""
) -> str:
    """The terminal table as plain text, for a file or a pipe: no trailing spaces."""
    from rich.console import Console

    check_table_size(rows)
    console = Console(record=True, width=240, file=io.StringIO(), color_system=None)
    console.print(_rich_table(rows, columns, title))
    lines = console.export_text().splitlines()
    return "\n".join(line.rstrip() for line in lines).strip("\n") + "\n"


def print_table(rows: Rows, columns: Sequence[TableColumn], *, title: str = "") -> None:
    """Print the table to stdout, with colour only on a terminal (rich decides; NO_COLOR)."""
    from rich.console import Console

    check_table_size(rows)
    console = Console()
    if console.is_terminal:
        console.print(_rich_table(rows, columns, title))
    else:  # a pipe or file: never wrap or truncate cells, no padding at line ends
        write_stdout(to_table_text(rows, columns, title=title))


def write_stdout(text: str) -> None:
    """Write all of `text` to standard output, or raise OSError saying why not.

    Python's buffered stdout takes a short write (a file size limit reached, `ulimit -f`) as
    done and drops the rest; writing the bytes ourselves until all are out turns that into
    the EFBIG (or ENOSPC: /dev/full) error it is.
    """
    import sys

    try:
        fd = sys.stdout.fileno()
    except (
        AttributeError,
        OSError,
        ValueError,
    ):  # a captured stdout (tests, notebooks)
        sys.stdout.write(text)
        return
    sys.stdout.flush()
    view = memoryview(text.encode("utf-8"))
    while view:
        view = view[os.write(fd, view) :]


def render_chunks(
    rows: Rows, fmt: str, columns: Sequence[TableColumn], *, title: str = ""
) -> Iterable[str]:
    """The rows as text in one of FORMATS, in chunks."""
    if fmt == "csv":
        return iter_csv(rows)
    if fmt == "json":
        return iter_json(rows)
    return [to_table_text(rows, columns, title=title)]


def render(
    rows: Rows, fmt: str, columns: Sequence[TableColumn], *, title: str = ""
) -> str:
    """The rows as text in one of FORMATS."""
    return "".join(render_chunks(rows, fmt, columns, title=title))


def _kind(path: Path) -> str:
    """What is at a path: missing, file, folder, link, device, pipe, or other."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return "missing"
    except OSError as error:
        raise OutputError(
            f"cannot write {path}: {error.strerror or error}", field="output"
        ) from None
    for test, kind in (
        (stat.S_ISLNK, "link"),
        (stat.S_ISREG, "file"),
        (stat.S_ISDIR, "folder"),
        (stat.S_ISCHR, "device"),
        (stat.S_ISFIFO, "pipe"),
    ):
        if test(mode):
            return kind
    return "other"


def _resolve(path: Path) -> tuple[Path, str]:
    """The path to write and what is there now; a symbolic link leads to its target."""
    kind = _kind(path)
    if kind == "link":
        target = Path(os.path.realpath(path))
        return target, _kind(target)
    return path, kind


def check_writable(path: str | Path, *, force: bool) -> Path:
    """Refuse, before any work is done, an output that exists (without force) or can't be made."""
    if str(path) == "":
        raise OutputError(
            "an empty path; give a file, or - for standard output", field="output"
        )
    target, kind = _resolve(Path(path))
    if kind in ("device", "pipe"):
        return target  # written through, never replaced
    if kind == "folder":
        raise OutputError(f"{target} is a folder, expected a file path", field="output")
    if kind == "other":
        raise OutputError(
            f"{target} is neither a regular file nor a device; refusing to replace it",
            field="output",
        )
    if kind == "file" and not force:
        raise OutputError(
            f"{target} exists; pass --force to overwrite it", field="output"
        )
    parent = target.parent
    if not parent.is_dir():
        raise OutputError(f"folder {parent} does not exist", field="output")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(
            f"cannot write in folder {parent}: permission denied", field="output"
        )
    return target


def _write_through(target: Path, chunks: Iterable[str]) -> None:
    """Write to a device or a pipe as it is: nothing to replace, nothing to clean up."""
    with open(target, "w", encoding="utf-8", newline="") as stream:
        for chunk in chunks:
            stream.write(chunk)


def _new_file_mode(existing: Path) -> int:
    """The existing file's permissions, or what a new file gets under the umask."""
    try:
        return stat.S_IMODE(os.stat(existing).st_mode)
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def write_atomic(path: str | Path, text: str | Iterable[str], *, force: bool) -> Path:
    """Write `text` (or its chunks) to `path` so that a failure leaves nothing behind."""
    target = check_writable(path, force=force)
    chunks = [text] if isinstance(text, str) else text
    try:
        if _kind(target) in ("device", "pipe"):
            _write_through(target, chunks)
            return target
        _replace(target, chunks)
    except OSError as error:
        raise OutputError(
            f"cannot write {target}: {error.strerror or error}", field="output"
        ) from None
    return target


def _replace(target: Path, chunks: Iterable[str]) -> None:
    """Write a temporary file beside the target, then rename it into place."""
    mode = _new_file_mode(target)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
            for chunk in chunks:
                stream.write(chunk)
        os.chmod(temporary, mode)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def format_for(path: str | None, fmt: str | None) -> str:
    """The output format: as asked, else from the file's suffix, else the table."""
    if fmt:
        return fmt
    suffix = Path(path).suffix.lower() if path else ""
    return {".csv": "csv", ".json": "json"}.get(suffix, "table")
