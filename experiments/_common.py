"""Shared helpers for the experiment scripts: output folder, atomic JSON, tables, figures."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

import rnngrad as rg


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
    """Write `record` as JSON atomically (rg.atomic_write: temporary file, fsync, rename)."""
    text = json.dumps(to_builtin(record), indent=1)
    return rg.atomic_write(path, lambda f: f.write(text), mode="w")


def write_outputs(record: dict[str, Any], out: Path, name: str, draw: Any) -> dict[str, Any]:
    """Draw the figures (``draw()`` returns their names; none without matplotlib), then
    write ``out/<name>.json`` with ``record["figures"]`` set; print what was written."""
    try:
        record["figures"] = draw()
    except ImportError:
        print("matplotlib missing: no figures (pip install 'rnngrad[plot]')")
        record["figures"] = []
    write_json(out / f"{name}.json", record)
    print(f"wrote {out}/{name}.json and {len(record['figures'])} figures")
    return record


def save_figure(fig: Any, path: Path) -> Path:
    """Save a matplotlib figure atomically as PNG and close it."""
    import matplotlib.pyplot as plt

    try:
        return rg.atomic_write(
            path, lambda f: fig.savefig(f, format="png", dpi=110, bbox_inches="tight")
        )
    finally:
        plt.close(fig)


def block_reduce(values: np.ndarray, reduce: Any = np.mean, points: int = 100) -> np.ndarray:
    """(seeds, steps) curves as (seeds, <= points) block reductions (e.g. np.nanmax)."""
    steps = values.shape[1]
    block = max(1, steps // points)
    usable = (steps // block) * block
    v = values[:, :usable].reshape(values.shape[0], -1, block)
    with np.errstate(all="ignore"):
        return reduce(v, axis=2)


def table(headers: list[str], rows: list[list[Any]], fmt: str = "{:>10}") -> str:
    """A plain-text table; floats with 4 significant digits."""

    def cell(v: Any) -> str:
        if isinstance(v, float):
            return fmt.format(f"{v:.4g}")
        return fmt.format(str(v))

    lines = [" ".join(cell(h) for h in headers)]
    lines += [" ".join(cell(v) for v in row) for row in rows]
    return "\n".join(lines)
