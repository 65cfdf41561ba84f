"""kvplan's own exception types: each names the field and what was expected."""


class KvplanError(ValueError):
    """Base of every error kvplan raises for bad input; the CLI turns it into exit code 2."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field

    def __str__(self) -> str:
        message = super().__str__()
        if self.field and not _names(message, self.field):
            return f"{self.field}: {message}"
        return message


def _names(message: str, field: str) -> bool:
    """Whether the message already names the field as a word (not inside a path)."""
    import re

    return re.search(rf"(?<![\w./-]){re.escape(field)}(?!\w)", message) is not None


class UnitError(KvplanError):
    """A token count, byte size or number that does not parse."""


class SpecError(KvplanError):
    """A model spec (shipped YAML, spec file or config.json) that is missing or malformed."""


class FormatError(KvplanError):
    """An unknown cache format, or a geometry the format cannot store."""


class UnknownNameError(KvplanError):
    """A model, GPU or engine name that is not in a catalog; carries the near matches."""

    def __init__(
        self, kind: str, name: str, near: list[str], *, field: str | None = None
    ):
        hint = f"; did you mean: {', '.join(near)}" if near else ""
        super().__init__(f"unknown {kind} {name!r}{hint}", field=field)
        self.near = near


class OutputError(KvplanError):
    """An output file that exists (without --force) or cannot be written."""


class DoesNotFitError(KvplanError):
    """A model whose weights (and reserve) leave no room for a KV cache on the GPU."""
