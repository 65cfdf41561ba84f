"""The one place that parses and prints human units: tokens (4k, 128k, 1M) and bytes (GiB, GB).

Token suffixes are binary: 1k = 1024 tokens, 1M = 1048576, as serving engines and model cards
mean "128k context"; there is no G for tokens (a context of 2^30 tokens is written 1024M), and
a token count above MAX_TOKENS (2^40) is refused. Byte suffixes say which base they use:
KiB/MiB/GiB/TiB are powers of 2, KB/MB/GB/TB powers of 10. Every parse returns an exact int; a
value that is not a whole number of units after scaling is an error, never rounded silently.
Digits are ASCII only, with no thousands separators and no leading zeros ('024' is refused:
in `-c 1,024` the comma separates two values).
"""

import math
import numbers
import re
from fractions import Fraction

from kvplan.errors import UnitError

KIB = 2**10
MIB = 2**20
GIB = 2**30
TIB = 2**40

# The largest token count accepted: far beyond any model's context (2^40 = 1,099,511,627,776).
MAX_TOKENS = 2**40

_TOKEN_SUFFIX = {"": 1, "k": 2**10, "m": 2**20}
_BYTE_SUFFIX = {
    "": 1,
    "b": 1,
    "kib": KIB,
    "mib": MIB,
    "gib": GIB,
    "tib": TIB,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "tb": 10**12,
}
_COUNT_SUFFIX = {"": 1, "k": 10**3, "m": 10**6, "b": 10**9, "t": 10**12}
_NUMBER = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?|\.[0-9]+)\s*([a-zA-Z]*)\s*$", re.ASCII)


def _number(text: object, field: str, accepted: str) -> Fraction | None:
    """An int, a numpy integer or a whole float as an exact Fraction; None for text."""
    if isinstance(text, bool):
        raise UnitError(f"expected {accepted}, got {text!r}", field=field)
    if isinstance(text, numbers.Integral):
        return Fraction(int(text))
    if isinstance(text, numbers.Real):
        value = float(text)
        if not math.isfinite(value):
            raise UnitError(f"expected {accepted}, got {text!r}", field=field)
        return Fraction(value)
    if not isinstance(text, str):
        raise UnitError(
            f"expected {accepted}, got {type(text).__name__} {text!r}", field=field
        )
    return None


def _scaled(text: object, suffixes: dict[str, int], field: str, accepted: str) -> int:
    """Parse `<number><suffix>` into an exact positive-or-zero int, or raise naming `field`."""
    value = _number(text, field, accepted)
    if value is None:
        match = _NUMBER.match(text)
        if not match or match.group(2).lower() not in suffixes:
            raise UnitError(f"expected {accepted}, got {text!r}", field=field)
        digits = match.group(1)
        if len(digits) > 1 and digits[0] == "0" and digits[1] != ".":
            raise UnitError(
                f"{text!r} has a leading zero; expected {accepted}", field=field
            )
        value = Fraction(digits) * suffixes[match.group(2).lower()]
    if value.denominator != 1:
        raise UnitError(f"{text!r} is not a whole number ({accepted})", field=field)
    if value < 0:
        raise UnitError(f"expected {accepted}, got {text!r}", field=field)
    return int(value)


def parse_tokens(
    text: object, *, field: str = "tokens", allow_zero: bool = False
) -> int:
    """Tokens from `4096`, `4k` (4096), `128k` (131072), `1M` (1048576), `1.5k` (1536)."""
    accepted = "a token count such as 4096, 4k, 128k or 1M (k = 1024, M = 1048576)"
    tokens = _scaled(text, _TOKEN_SUFFIX, field, accepted)
    if tokens == 0 and not allow_zero:
        raise UnitError(f"expected a positive token count, got {text!r}", field=field)
    if tokens > MAX_TOKENS:
        raise UnitError(
            f"{text!r} is {tokens:,} tokens; kvplan accepts at most 2^40 = "
            f"{MAX_TOKENS:,}",
            field=field,
        )
    return tokens


def _bare_number(text: object) -> str | None:
    """The number of a text that is a number without a unit (`16`, `6.51`), else None."""
    if not isinstance(text, str):
        return None  # an int or float from code is a count of the base unit
    match = _NUMBER.match(text)
    return match.group(1) if match and not match.group(2) else None


def _require_size_unit(text: object, field: str, *, allow_zero: bool) -> None:
    """A size written as text needs its unit: `16` could be bytes, GiB or GB."""
    number = _bare_number(text)
    if number is None or (allow_zero and Fraction(number) == 0):
        return
    as_bytes = f", or bytes with a B ({number}B)" if "." not in number else ""
    raise UnitError(
        f"{text!r} has no unit; write {number}GiB ({number} x 2^30 B) or {number}GB "
        f"({number} x 10^9 B){as_bytes}",
        field=field,
    )


def parse_bytes(text: object, *, field: str = "bytes", allow_zero: bool = False) -> int:
    """Bytes from `80GiB` (80 x 2^30), `80GB` (80 x 10^9), `512MiB` or `4096B`.

    Text needs its unit (a bare `16` is refused, naming the forms); a bare 0 is allowed where
    zero is. An int from code is bytes.
    """
    accepted = (
        "a size such as 80GiB, 37.5GiB, 80GB, 512MiB or 4096B (GiB = 2^30, GB = 10^9)"
    )
    _require_size_unit(text, field, allow_zero=allow_zero)
    size = _scaled(text, _BYTE_SUFFIX, field, accepted)
    if size == 0 and not allow_zero:
        raise UnitError(f"expected a positive size, got {text!r}", field=field)
    return size


def parse_bytes_rounded(
    text: object, *, field: str = "bytes", allow_zero: bool = False
) -> tuple[int, bool]:
    """Bytes from a size that an engine printed rounded (`3.81GiB`): whole bytes, rounded down.

    Returns (bytes, rounded): `rounded` is True when the size was not a whole number of bytes,
    so the caller can say so. Every other rule is parse_bytes's.
    """
    _require_size_unit(text, field, allow_zero=allow_zero)
    match = _NUMBER.match(str(text)) if not isinstance(text, (bool, int)) else None
    if match is None or match.group(2).lower() not in _BYTE_SUFFIX:
        return parse_bytes(text, field=field, allow_zero=allow_zero), False
    exact = Fraction(match.group(1)) * _BYTE_SUFFIX[match.group(2).lower()]
    if exact < 1 and not (allow_zero and exact == 0):
        raise UnitError(f"expected a positive size, got {text!r}", field=field)
    return int(exact), exact.denominator != 1


# A parameter count written without a suffix is read as exact only from here up: `8` or `70`
# is a size in billions missing its B, not a model of 8 parameters.
MIN_BARE_COUNT = 10**6


def parse_count(text: object, *, field: str = "count") -> int:
    """A decimal count such as a parameter count: `8.03B` (8.03 x 10^9), `70B`, `350M`,
    or an exact integer of at least MIN_BARE_COUNT (`8030261248`)."""
    accepted = "a count such as 8.03B, 70B or 350M (B = 10^9, M = 10^6)"
    number = _bare_number(text)
    if number is not None and Fraction(number) < MIN_BARE_COUNT:
        raise UnitError(
            f"{text!r} has no unit; write {number}B ({number} x 10^9) or {number}M "
            f"({number} x 10^6); a number without a unit is an exact count only from "
            f"{MIN_BARE_COUNT:,} up",
            field=field,
        )
    count = _scaled(text, _COUNT_SUFFIX, field, accepted)
    if count == 0:
        raise UnitError(f"expected a positive count, got {text!r}", field=field)
    return count


_DIGITS = re.compile(r"^\s*[1-9][0-9]*\s*$", re.ASCII)


def parse_positive_int(text: object, *, field: str) -> int:
    """A plain positive integer (a batch size, a TP degree): no suffixes, no fractions."""
    accepted = "a positive integer"
    value = _number(text, field, accepted)
    if value is None:
        if not _DIGITS.match(text):
            raise UnitError(f"expected {accepted}, got {text!r}", field=field)
        value = Fraction(int(text))
    if value.denominator != 1 or value <= 0:
        raise UnitError(f"expected {accepted}, got {text!r}", field=field)
    return int(value)


def split_numbers(items, *, field: str, parse) -> list[int]:
    """Comma-separated numbers parsed one by one; a failure says how commas were read."""
    values = []
    for item in [items] if isinstance(items, str) else list(items):
        parts = split_list(str(item), field=field)
        for part in parts:
            try:
                values.append(parse(part, field=field))
            except UnitError as error:
                if len(parts) < 2:
                    raise
                read = " and ".join(repr(p) for p in parts)
                raise UnitError(
                    f"{error.args[0]}; commas separate values, so {item!r} was read as "
                    f"{read}: write numbers without thousands separators",
                    field=field,
                ) from None
    if not values:
        raise UnitError("at least one value is needed", field=field)
    return values


_SCIENTIFIC = re.compile(r"^\s*(\d+(?:\.\d*)?[eE][-+]?\d+)\s*$")


def parse_fraction(text: object, *, field: str) -> Fraction:
    """A share in (0, 1], such as a memory fraction `0.9` or `9e-1`, kept exact."""
    match = _NUMBER.match(str(text)) or _SCIENTIFIC.match(str(text))
    if isinstance(text, bool) or not match or (match.lastindex == 2 and match.group(2)):
        raise UnitError(
            f"expected a number in (0, 1] such as 0.9, got {text!r}", field=field
        )
    value = Fraction(match.group(1))
    if not 0 < value <= 1:
        raise UnitError(
            f"expected a number in (0, 1] such as 0.9, got {text!r}", field=field
        )
    return value


def split_list(text: str | tuple | list, *, field: str = "list") -> list[str]:
    """Split option values given as `4k,32k` or repeated options into one flat list.

    An option given as "" adds nothing (an unset default), but an empty value between commas
    (`4k,,8k`, `4096,`) is refused, naming the field: a doubled comma is a typo, not a value.
    """
    items = [text] if isinstance(text, str) else list(text)
    values = []
    for item in items:
        if not str(item).strip():
            continue
        parts = [part.strip() for part in str(item).split(",")]
        if not all(parts):
            raise UnitError(
                f"{item!r} has an empty value; commas separate values, with a value on "
                "each side: 4k,32k",
                field=field,
            )
        values.extend(parts)
    return values


def _hundredths(n_bytes: int, size: int) -> str:
    """n_bytes / size with two decimals, rounded half up from exact integers (no floats)."""
    sign = "-" if n_bytes < 0 else ""
    hundredths = (2 * abs(n_bytes) * 100 + size) // (2 * size)
    return f"{sign}{hundredths // 100:,}.{hundredths % 100:02d}"


def format_gib(n_bytes: int) -> str:
    """Bytes as GiB (2^30) with two decimals and the unit named: `16.00 GiB`."""
    return f"{_hundredths(int(n_bytes), GIB)} GiB"


def format_bytes(n_bytes: int) -> str:
    """Bytes in the largest binary unit that keeps the number at or above 1: `36.00 KiB`."""
    n_bytes = int(n_bytes)
    for unit, size in (("TiB", TIB), ("GiB", GIB), ("MiB", MIB), ("KiB", KIB)):
        if abs(n_bytes) >= size:
            return f"{_hundredths(n_bytes, size)} {unit}"
    return f"{n_bytes:,} B"


def format_tokens(tokens: int) -> str:
    """Tokens as written in the options: `128k` when a whole multiple of 1024, else `20,000`."""
    if tokens >= 2**20 and tokens % 2**20 == 0:
        return f"{tokens // 2**20}M"
    if tokens >= 1024 and tokens % 1024 == 0:
        return f"{tokens // 1024}k"
    return f"{tokens:,}"


_PRINTED = re.compile(r"^\s*(-?)(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d+))?\s*$", re.ASCII)


def parse_printed(text: str, *, field: str) -> tuple[Fraction, int]:
    """A number as a log printed it (`3.81`, `42,656`, `1.56`): exact value and decimals."""
    match = _PRINTED.match(str(text))
    if not match:
        raise UnitError(
            f"expected a printed number such as 3.81, got {text!r}", field=field
        )
    sign, whole, decimals = match.groups()
    digits = whole.replace(",", "") + (decimals or "")
    value = Fraction(int(digits), 10 ** len(decimals or ""))
    return (-value if sign else value), len(decimals or "")
