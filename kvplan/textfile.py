"""Reading a model file the user named: one clear error for every way it can fail.

A path that is a folder, a named pipe, a device or a socket is refused before it is opened
(a FIFO would block the read forever); unreadable files, missing files and bad encodings
become one SpecError naming the path.
"""

import os
import stat
from pathlib import Path

from kvplan.errors import SpecError


def _reason(error: OSError) -> str:
    return error.strerror or str(error)


def file_kind(path: Path) -> str:
    """'file', 'folder', 'missing', or what else the path is (FIFO, device, socket)."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "missing"
    except NotADirectoryError:
        return "missing"
    except OSError as error:
        raise SpecError(
            f"cannot read {path}: {_reason(error)}", field="model"
        ) from None
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "folder"
    if stat.S_ISFIFO(mode):
        return "named pipe"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    return "special file"


def read_text(path: Path) -> str:
    """The UTF-8 text of a regular file, or a SpecError naming the path and the reason."""
    kind = file_kind(path)
    if kind == "missing":
        raise SpecError(f"no such file: {path}", field="model")
    if kind != "file":
        raise SpecError(
            f"{path} is a {kind}, not a regular file; give a config.json or a spec .yaml",
            field="model",
        )
    try:
        return path.read_text(encoding="utf-8")
    except OSError as error:
        raise SpecError(
            f"cannot read {path}: {_reason(error)}", field="model"
        ) from None
    except UnicodeDecodeError:
        raise SpecError(f"{path} is not UTF-8 text", field="model") from None
