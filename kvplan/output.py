"""Rows -> terminal table, CSV or JSON; files written atomically, never half-written.

Every command builds its Rows once; the three renderings come from the same rows, so the
CSV/JSON columns are the stable names documented in docs/columns.md and the table is a view of
some of them in human units.
"""

import csv
import io
import json
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from kvplan.errors import OutputError
from kvplan.rows import Rows

FORMATS = ("table", "csv", "json")


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


def to_csv(rows: Rows) -> str:
    """CSV text with a header row; integers stay exact, floats keep full precision."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(rows.names)
    plain = [rows.column(name) for name in rows.names]
    writer.writerows(zip(*plain, strict=True))
    return buffer.getvalue()


def to_json(rows: Rows) -> str:
    """A JSON list of row objects."""
    return json.dumps(list(rows), indent=1) + "\n"


def _rich_table(rows: Rows, columns: Sequence[TableColumn], title: str):
    from rich import box
    from rich.table import Table

    table = Table(title=title or None, box=box.SIMPLE_HEAD, title_justify="left")
    for column in columns:
        table.add_column(column.header, justify="right" if column.numeric else "left")
    for row in rows:
        table.add_row(*(column.cell(row) for column in columns))
    return table


def to_table_text(
    rows: Rows, columns: Sequence[TableColumn], *, title: str = ""
) -> str:
    """The terminal table as plain text, for a file."""
    from rich.console import Console

    console = Console(record=True, width=200, file=io.StringIO(), color_system=None)
    console.print(_rich_table(rows, columns, title))
    return console.export_text()


def print_table(rows: Rows, columns: Sequence[TableColumn], *, title: str = "") -> None:
    """Print the table to stdout, with colour only on a terminal (rich decides; NO_COLOR)."""
    from rich.console import Console

    console = Console()
    if not console.is_terminal:
        console.width = 240  # a pipe or file: never wrap or truncate cells
    console.print(_rich_table(rows, columns, title))


def render(
    rows: Rows, fmt: str, columns: Sequence[TableColumn], *, title: str = ""
) -> str:
    """The rows as text in one of FORMATS."""
    if fmt == "csv":
        return to_csv(rows)
    if fmt == "json":
        return to_json(rows)
    return to_table_text(rows, columns, title=title)


def check_writable(path: str | Path, *, force: bool) -> Path:
    """Refuse, before any work is done, an output that exists (without force) or can't be made."""
    target = Path(path)
    if target.exists() and not force:
        raise OutputError(
            f"{target} exists; pass --force to overwrite it", field="output"
        )
    if target.is_dir():
        raise OutputError(f"{target} is a folder, expected a file path", field="output")
    if not target.parent.exists():
        raise OutputError(f"folder {target.parent} does not exist", field="output")
    return target


def write_atomic(path: str | Path, text: str, *, force: bool) -> Path:
    """Write `text` to `path` through a temporary file, so a failure leaves nothing behind."""
    target = check_writable(path, force=force)
    handle, temporary = tempfile.mkstemp(
        dir=target.parent, prefix=f".{target.name}.", text=True
    )
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
            stream.write(text)
        os.replace(temporary, target)
    except OSError as error:
        Path(temporary).unlink(missing_ok=True)
        raise OutputError(
            f"cannot write {target}: {error.strerror or error}", field="output"
        ) from None
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target


def format_for(path: str | None, fmt: str | None) -> str:
    """The output format: as asked, else from the file's suffix, else the table."""
    if fmt:
        return fmt
    suffix = Path(path).suffix.lower() if path else ""
    return {".csv": "csv", ".json": "json"}.get(suffix, "table")
