"""Shared helpers for the experiment scripts: output folder, atomic JSON, tables, figures."""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np


def parser(doc: str, name: str) -> argparse.ArgumentParser:
    """The common command line: --quick and --out."""
    p = argparse.ArgumentParser(description=doc.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="seconds-long sizes (what the tests run)")
    p.add_argument("--out", default=f"results/{name}", help="output folder")
    return p


def to_builtin(value: Any) -> Any:
    """Numpy/JAX scalars and arrays as plain JSON-able Python values (NaN/inf as strings)."""
    if isinstance(value, dict):
        return {str(k): to_builtin(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_builtin(v) for v in value]
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        return to_builtin(np.asarray(value).tolist())
    if isinstance(value, float) and not np.isfinite(value):
        return str(value)
    return value


def write_json(path: Path, record: dict[str, Any]) -> Path:
    """Write `record` as JSON atomically (temporary file, fsync, rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(to_builtin(record), f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def save_figure(fig: Any, path: Path) -> Path:
    """Save a matplotlib figure atomically as PNG and close it."""
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".png", dir=path.parent)
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=110, bbox_inches="tight")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    finally:
        plt.close(fig)
    return path


def table(headers: list[str], rows: list[list[Any]], fmt: str = "{:>10}") -> str:
    """A plain-text table; floats with 4 significant digits."""

    def cell(v: Any) -> str:
        if isinstance(v, float):
            return fmt.format(f"{v:.4g}")
        return fmt.format(str(v))

    lines = [" ".join(cell(h) for h in headers)]
    lines += [" ".join(cell(v) for v in row) for row in rows]
    return "\n".join(lines)
