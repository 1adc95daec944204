"""experiments/flossing.py --quick: fields, figures, and flossing pulls λ₁ toward 0."""

import importlib
import json
import sys
from pathlib import Path

import jax
import numpy as np

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"


def test_flossing_quick(tmp_path):
    sys.path.insert(0, str(EXPERIMENTS))
    try:
        module = importlib.import_module("flossing")
        with jax.numpy_dtype_promotion("standard"):  # optax's Adam is not strict-safe
            module.main(["--quick", "--out", str(tmp_path)])
    finally:
        sys.path.remove(str(EXPERIMENTS))
    record = json.loads((tmp_path / "flossing.json").read_text())
    for field in ("delays", "results", "lyapunov_before", "lyapunov_after", "table", "seconds"):
        assert field in record
    for delay in record["delays"]:
        for arm in ("plain", "flossed"):
            res = record["results"][str(delay)][arm]
            assert len(res["test_loss"]) == record["seeds"]
            assert all(np.isfinite(res["test_loss"]))
    before, after = record["lyapunov_before"][0], record["lyapunov_after"][0]
    assert abs(after) < abs(before)  # flossing moves the top exponent toward its target 0
    assert sorted(record["figures"]) == ["delays.png", "lyapunov.png"]
