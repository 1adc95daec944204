"""Atomic file writes: a file a user asked to save is never half-written."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import numpy as np

from ._checks import Checked, check_path, describe

# numpy dtype kinds that .npy stores without pickle: bool, signed/unsigned int, float, complex.
NUMERIC_KINDS = frozenset("biufc")
NO_PICKLE = "only numeric or bool arrays can be saved (rnngrad never writes pickles)"


def _default_mode() -> int:
    """0o666 minus the process umask: what a plain open() would have created."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def dtype_kind(dtype: Any) -> str:
    """numpy's one-letter kind of `dtype`, or ``""`` for dtypes numpy does not know (keys)."""
    try:
        return np.dtype(dtype).kind
    except TypeError:
        return ""


def numeric_array(label: str, value: Any) -> np.ndarray:
    """`value` as a numpy array of a numeric or bool dtype, else a ``TypeError`` naming it.

    What passes is stored as plain ``.npy`` data; anything else would need a pickle.
    """
    if not hasattr(value, "shape") or not hasattr(value, "dtype"):
        raise TypeError(f"{label} must be an array, got {describe(value)}; {NO_PICKLE}.")
    if dtype_kind(value.dtype) not in NUMERIC_KINDS:
        raise TypeError(
            f"{label} has dtype {value.dtype}: {NO_PICKLE}. Convert it first, "
            "e.g. with .astype(np.float32)."
        )
    return np.asarray(value)


def make_folder(name: str, folder: Path) -> None:
    """Create `folder` (and its parents), naming the argument `name` if a file is in the way.

    **Raises:** ``ValueError`` when `folder` or one of its parents is an existing file.
    Other ``OSError``s (no permission, disk full) are the system's and propagate.
    """
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as err:
        raise ValueError(
            f"`{name}`: cannot create the folder {str(folder)!r}: it or a folder above it "
            f"is an existing file ({err.strerror}); choose another path."
        ) from err


def atomic_write(
    path: Checked[str | os.PathLike],
    write: Callable[[IO[Any]], None],
    *,
    mode: Checked[str] = "wb",
    name: Checked[str] = "path",
) -> Path:
    """Call ``write(f)`` on a temporary file next to `path`, fsync it, then rename it to `path`.

    The rename is atomic on POSIX and Windows, so readers see either the old file or the
    new one; on any error the temporary file is removed and the old file is untouched.
    `name` is the argument that gave `path`, for the error messages.

    **Raises:** ``TypeError`` when `path` is not a ``str``/``os.PathLike``; ``ValueError``
    when it is an existing directory or a parent is an existing file (nothing is written).
    """
    path = check_path(name, path, kind="file")
    make_folder(name, path.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _default_mode())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path
