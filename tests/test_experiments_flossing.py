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
    x64 = jax.config.jax_enable_x64  # the runner sets the script's precision (float32)
    try:
        module = importlib.import_module("flossing")
        with jax.numpy_dtype_promotion("standard"):  # optax's Adam is not strict-safe
            module.main(["--quick", "--out", str(tmp_path)])
    finally:
        sys.path.remove(str(EXPERIMENTS))
        jax.config.update("jax_enable_x64", x64)
    record = json.loads((tmp_path / "flossing.json").read_text())
    for field in ("delays", "results", "lyapunov_before", "lyapunov_after", "tables", "checks"):
        assert field in record
    assert "seconds" in record
    for delay in record["delays"]:
        for arm in ("plain", "flossed"):
            res = record["results"][str(delay)][arm]
            assert len(res["test_loss"]) == len(res["solved"]) == record["seeds"]
            assert all(np.isfinite(res["test_loss"]))
            assert res["success"]["successes"] == sum(res["solved"])
    with np.load(tmp_path / "flossing.npz") as arrays:
        assert arrays[f"loss_curve_median_{record['delays'][0]}_plain"].shape == (record["steps"],)
    before, after = record["lyapunov_before"][0], record["lyapunov_after"][0]
    assert abs(after) < abs(before)  # flossing moves the top exponent toward its target 0
    assert record["checks"]["lyapunov_after_top"] == after
    assert [row["result"] for row in record["comparisons"]] == [
        e.result for e in module.EXPERIMENT.expected
    ]
    assert sorted(record["figures"]) == ["delays.png", "lyapunov.png"]
