"""The shared runner of the experiment scripts: arguments, precision, timing, records.

An experiment is a module with an ``EXPERIMENT = Experiment(...)``: its sizes (quick and
full), its precision, a ``run(cfg)`` returning plain scalars and arrays, the tables to
print, the figures to draw (through ``rg.plot``) and the paper numbers it is compared
with (``expected``: data, read by the script and by ``report.py`` alike). The runner
parses ``--quick/--full/--out``, sets the precision for the run (never at import),
times it, prints the tables and the comparison, and writes ``<out>/<name>.json``
(scalars, tables, comparisons) and ``<out>/<name>.npz`` (arrays), both atomically.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import math
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from rnngrad._io import atomic_write

Table = tuple[list[str], list[list[Any]]]


@dataclasses.dataclass(frozen=True)
class Expect:
    """One paper comparison: ``record["checks"][check] <op> bound``.

    `result` names the comparison and its paper, `paper` gives the paper's figure in
    words, `op` is one of ``<``, ``<=``, ``>``, ``>=``, ``abs<`` (``|value| < bound``) or
    ``==``; `fmt` formats our value. So that a row compares like with like, it also says
    which task `variant` (and whose definition) both sides ran, the `size` of our full
    run (task length, units, seeds, steps), and what `differs` from the paper's setup;
    `interval` names the check holding ``[low, high]`` of our value (a Wilson 95 %
    interval for a success rate, or the range the row's `differs` names).
    """

    result: str
    paper: str
    check: str
    op: str
    bound: float
    fmt: str = "{:.3g}"
    variant: str = "-"
    size: str = "-"
    differs: str = "-"
    interval: str | None = None

    def row(self, checks: Mapping[str, Any]) -> dict[str, str]:
        """The row ``{field: text}``, fields :data:`ROW_FIELDS` (a missing check is
        reported in the row, not raised)."""
        row = dict(result=self.result, variant=self.variant, size=self.size, paper=self.paper)
        row.update(ours="not measured at this size", match="?", differs=self.differs)
        if self.check not in checks or checks[self.check] is None:
            return row
        value = float(checks[self.check])
        ops: dict[str, Callable[[float], bool]] = {
            "<": lambda v: v < self.bound,
            "<=": lambda v: v <= self.bound,
            ">": lambda v: v > self.bound,
            ">=": lambda v: v >= self.bound,
            "abs<": lambda v: abs(v) < self.bound,
            "==": lambda v: v == self.bound,
        }
        ok = math.isfinite(value) and ops[self.op](value)
        want = f"|x| < {self.bound:g}" if self.op == "abs<" else f"{self.op} {self.bound:g}"
        row["ours"] = self.fmt.format(value)
        if self.interval is not None and checks.get(self.interval) is not None:
            low, high = (float(v) for v in checks[self.interval])
            row["ours"] += f" [{self.fmt.format(low)}, {self.fmt.format(high)}]"
        row["match"] = "yes" if ok else f"no ({want})"
        return row


#: The fields of a comparison row and their column titles, in the report's order.
ROW_FIELDS = {
    "result": "result (paper)",
    "variant": "task variant",
    "size": "size (ours)",
    "paper": "paper",
    "ours": "ours [interval]",
    "match": "match?",
    "differs": "what differs",
}


@dataclasses.dataclass(frozen=True)
class Experiment:
    """What an experiment script declares; :func:`main` runs it.

    - `name`: the output name; `doc`: the script's docstring (``--help``).
    - `sizes`: ``{"quick": {...}, "full": {...}}``, the config of each size.
    - `x64`: run in float64 (set when the run starts, not at import).
    - `run(cfg) -> (record, arrays)`: plain scalars/lists/strings for the JSON record
      (with ``record["checks"]``: the numbers `expected` reads, and
      ``record["tables"]``: ``{title: (headers, rows)}``), and NumPy arrays for the npz.
    - `draw(record, arrays, cfg) -> {file name: Figure}`: the figures (``rg.plot``).
    - `expected`: the paper comparisons (:class:`Expect`).
    """

    name: str
    doc: str
    sizes: Mapping[str, Mapping[str, Any]]
    run: Callable[[dict], tuple[dict, dict]]
    draw: Callable[[dict, dict, dict], dict] | None = None
    expected: tuple[Expect, ...] = ()
    x64: bool = True


def to_builtin(value: Any) -> Any:
    """NumPy/JAX scalars and arrays as plain JSON values (NaN/inf as strings)."""
    if isinstance(value, Mapping):
        return {str(k): to_builtin(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_builtin(v) for v in value]
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        return to_builtin(np.asarray(value).tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def format_table(headers: list[str], rows: list[list[Any]], width: int = 12) -> str:
    """A plain-text table; floats with 4 significant digits."""

    def cell(v: Any) -> str:
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    return "\n".join(" ".join(f"{cell(v):>{width}}" for v in line) for line in [headers, *rows])


def comparisons(experiment: Experiment, record: Mapping[str, Any]) -> list[dict[str, str]]:
    """The rows (dicts with the fields of :data:`ROW_FIELDS`) of `experiment` on `record`."""
    checks = record.get("checks", {})
    return [e.row(checks) for e in experiment.expected]


def write_record(path: Path, record: Mapping[str, Any]) -> Path:
    """Write `record` as JSON atomically."""
    text = json.dumps(to_builtin(record), indent=1)
    return atomic_write(path, lambda f: f.write(text), mode="w")


def _write_npz(path: Path, arrays: Mapping[str, Any]) -> Path:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **{k: np.asarray(v) for k, v in arrays.items()})
    return atomic_write(path, lambda f: f.write(buffer.getvalue()))


def block_reduce(values: np.ndarray, reduce: Any = np.mean, points: int = 100) -> np.ndarray:
    """(seeds, steps) curves as (seeds, <= points) block reductions (e.g. np.nanmax)."""
    steps = values.shape[1]
    block = max(1, steps // points)
    usable = (steps // block) * block
    v = values[:, :usable].reshape(values.shape[0], -1, block)
    with np.errstate(all="ignore"):
        return reduce(v, axis=2)


def main(experiment: Experiment, argv: list[str] | None = None) -> dict[str, Any]:
    """Run `experiment` from the command line; return its record."""
    parser = argparse.ArgumentParser(description=experiment.doc.splitlines()[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="seconds-long sizes (the tests')")
    size.add_argument("--full", action="store_true", help="the published sizes (default)")
    parser.add_argument("--out", default=f"results/{experiment.name}", help="output folder")
    args = parser.parse_args(argv)
    import jax

    which = "quick" if args.quick else "full"
    cfg = dict(experiment.sizes[which])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    previous = jax.config.read("jax_enable_x64")
    jax.config.update("jax_enable_x64", experiment.x64)  # this run's precision, then back
    started = time.perf_counter()
    try:
        record, arrays = experiment.run(cfg)
    finally:
        jax.config.update("jax_enable_x64", previous)
    record = {"name": experiment.name, "size": which, "quick": args.quick, **record}
    record["seconds"] = time.perf_counter() - started
    for title, (headers, rows) in record.get("tables", {}).items():
        print(f"\n{title}\n{format_table(headers, rows)}", flush=True)
    record["comparisons"] = comparisons(experiment, record)
    for row in record["comparisons"]:
        print(" | ".join(row[k] for k in ("result", "paper", "ours", "match")))
    record["figures"] = _draw(experiment, record, arrays, cfg, out)
    _write_npz(out / f"{experiment.name}.npz", arrays)
    write_record(out / f"{experiment.name}.json", record)
    print(f"wrote {out}/{experiment.name}.json, .npz and {len(record['figures'])} figures")
    return record


def _draw(experiment: Experiment, record: dict, arrays: dict, cfg: dict, out: Path) -> list[str]:
    if experiment.draw is None:
        return []
    import rnngrad as rg

    try:
        figures = experiment.draw(record, arrays, cfg)
    except ImportError:
        print("matplotlib missing: no figures (pip install 'rnngrad[plot]')")
        return []
    return [rg.plot.save(fig, out / name).name for name, fig in figures.items()]
