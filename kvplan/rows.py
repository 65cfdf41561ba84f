"""Rows: one result shape for every command, stored by column, rendered by `output`.

Columns hold plain Python lists or numpy arrays (for large grids); iteration always yields plain
Python values, so JSON and CSV never see numpy scalars. pandas is imported only by `to_frame`.
"""

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field


def _plain(values: Sequence) -> list:
    """A column as a list of Python scalars (numpy arrays convert with `tolist`)."""
    tolist = getattr(values, "tolist", None)
    return tolist() if tolist is not None else list(values)


@dataclass
class Rows:
    """A table of results: named columns of equal length, plus notes for the reader."""

    columns: dict[str, Sequence]
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        lengths = {name: len(values) for name, values in self.columns.items()}
        if len(set(lengths.values())) > 1:
            raise ValueError(f"columns of unequal length: {lengths}")

    @classmethod
    def from_dicts(cls, rows: list[dict], names: Sequence[str], notes=None) -> "Rows":
        """Rows from a list of row dicts, keeping the column order `names`."""
        return cls(
            {name: [row[name] for row in rows] for name in names}, list(notes or [])
        )

    @property
    def names(self) -> list[str]:
        return list(self.columns)

    def __len__(self) -> int:
        return len(next(iter(self.columns.values()), ()))

    def __iter__(self) -> Iterator[dict]:
        names = self.names
        plain = [_plain(self.columns[name]) for name in names]
        for values in zip(*plain, strict=True):
            yield dict(zip(names, values, strict=True))

    def __getitem__(self, index: int) -> dict:
        return {
            name: _plain(values[index : index + 1])[0]
            for name, values in self.columns.items()
        }

    def column(self, name: str) -> list:
        """One column as plain Python values."""
        return _plain(self.columns[name])

    def column_slice(self, name: str, start: int, stop: int) -> list:
        """Rows start..stop-1 of one column as plain Python values (for streaming)."""
        return _plain(self.columns[name][start:stop])

    def to_frame(self):
        """The rows as a pandas DataFrame, with the same column names."""
        import pandas as pd

        return pd.DataFrame({name: self.columns[name] for name in self.names})

    def extend(self, other: "Rows") -> "Rows":
        """These rows followed by `other`'s (same columns)."""
        if other.names != self.names:
            raise ValueError("cannot join rows with different columns")
        columns = {
            n: _plain(self.columns[n]) + _plain(other.columns[n]) for n in self.names
        }
        return Rows(columns, [*self.notes, *other.notes])
