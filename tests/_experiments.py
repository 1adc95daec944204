"""Run an experiment script's --quick size in-process for the tests (shared helper).

The runner switches to the script's precision; the suite's float64 is restored after.
optax's Adam mixes dtypes, so the run uses standard promotion (the suite is strict).
"""

import importlib
import json
import sys
from pathlib import Path

import jax
import numpy as np

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"
if str(EXPERIMENTS) not in sys.path:
    sys.path.insert(0, str(EXPERIMENTS))


def load(name: str):
    """The experiment module `name` (experiments/<name>.py)."""
    return importlib.import_module(name)


def run_quick(module, out: Path) -> tuple[dict, dict]:
    """``module.main(["--quick", "--out", out])``; returns (JSON record, npz arrays) and
    checks that every figure the record lists was written."""
    x64 = jax.config.jax_enable_x64
    try:
        with jax.numpy_dtype_promotion("standard"):
            module.main(["--quick", "--out", str(out)])
    finally:
        jax.config.update("jax_enable_x64", x64)
    name = module.EXPERIMENT.name
    record = json.loads((out / f"{name}.json").read_text())
    for fig in record["figures"]:
        assert (out / fig).stat().st_size > 1000, fig
    with np.load(out / f"{name}.npz") as arrays:
        return record, dict(arrays)
