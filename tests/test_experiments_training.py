"""experiments/vanishing.py and experiments/exploding.py --quick: fields and physics.

Each script runs in-process (float64 and strict promotion are on from conftest; optax's
Adam needs standard promotion, so the call is wrapped) once per module, into tmp_path.
"""

import json
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "experiments"))

import exploding  # noqa: E402
import vanishing  # noqa: E402


def _run(module, tmp_path, name):
    with jax.numpy_dtype_promotion("standard"):
        returned = module.main(["--quick", "--out", str(tmp_path)])
    record = json.loads((tmp_path / f"{name}.json").read_text())
    for fig in record["figures"]:
        assert (tmp_path / fig).stat().st_size > 1000
    return returned, record


@pytest.fixture(scope="module")
def van(tmp_path_factory):
    return _run(vanishing, tmp_path_factory.mktemp("vanishing"), "vanishing")


@pytest.fixture(scope="module")
def expl(tmp_path_factory):
    return _run(exploding, tmp_path_factory.mktemp("exploding"), "exploding")


def test_vanishing_fields(van):
    _, rec = van
    assert rec["quick"] is True
    assert set(rec["results"]) == set(vanishing.MODELS)
    seeds = rec["config"]["seeds"]
    for model in vanishing.MODELS:
        for length in rec["config"]["lengths"]:
            e = rec["results"][model][str(length)]
            for field in (
                "test_mse",
                "mse_success",
                "mse_success_rate",
                "mse_success_95ci",
                "solved",
                "solved_rate",
                "solved_95ci",
                "test_error_rate",
                "first_divergent_step",
            ):
                assert field in e, (model, field)
            assert len(e["test_mse"]) == len(e["solved"]) == seeds
            assert e["mse_success"] == [m < vanishing.MSE_THRESHOLD for m in e["test_mse"]]
            lo, hi = e["mse_success_95ci"]
            assert 0.0 <= lo <= e["mse_success_rate"] <= hi <= 1.0
            assert all(isinstance(v, int) for v in e["first_divergent_step"])
            if model != "esn":
                assert len(e["loss_curve"]) == seeds
    assert sorted(rec["figures"]) == ["lag_profiles.png", "success.png", "training.png"]
    assert len(rec["summary_table"]["rows"]) == len(vanishing.MODELS) * len(
        rec["config"]["lengths"]
    )
    assert abs(rec["baseline_mse"] - 1 / 6) < 1e-12


def test_vanishing_lag_profiles_physics(van):
    _, rec = van
    lp = rec["lag_profiles"]
    t = lp["length"]
    prof = {m: np.asarray(lp["log10_relative"][m]["init"], float) for m in vanishing.MODELS}
    for m, p in prof.items():
        assert p.shape == (t,) and np.all(np.isfinite(p)), m
        assert abs(p[0]) < 1e-12  # relative to lag 0
    # tanh + Gaussian init: the gradient reaching the far past has vanished by > 10x ...
    assert prof["tanh_gaussian"][-1] < -1.0
    # ... while the IRNN (identity W_rec, ReLU) carries it back almost undiminished.
    assert prof["irnn"][-1] > -0.5
    assert prof["irnn"][-1] > prof["tanh_gaussian"][-1] + 1.0
    # Chrono init (forget gates open at time scales up to T) keeps more of the far past
    # than a forget bias of 1 (σ(1) ≈ 0.73 per step).
    assert prof["lstm_chrono"][-1] > prof["lstm"][-1]
    # The summary numbers are the profile read at lag T/2 and 0.9 T.
    assert lp["at_half_T"]["tanh_gaussian"] == pytest.approx(prof["tanh_gaussian"][t // 2])


def test_exploding_fields(expl):
    _, rec = expl
    assert rec["quick"] is True
    seeds = rec["config"]["seeds"]
    assert rec["results"], "no problem was run"
    for problem, entry_p in rec["results"].items():
        assert len(entry_p["init_log10_profile"]) == entry_p["length"]
        assert set(entry_p["methods"]) == set(exploding.METHODS)
        for method, e in entry_p["methods"].items():
            for field in (
                "solved",
                "success_rate",
                "success_95ci",
                "test_loss",
                "test_error_rate",
                "first_divergent_step",
                "max_grad_norm",
                "median_grad_norm",
                "frac_steps_above_clip",
                "grad_norm_curve",
                "loss_curve",
            ):
                assert field in e, (problem, method, field)
            assert len(e["first_divergent_step"]) == seeds
            assert all(isinstance(v, int) and v >= -1 for v in e["first_divergent_step"])
            lo, hi = e["success_95ci"]
            assert 0.0 <= lo <= e["success_rate"] <= hi <= 1.0
            assert len(e["grad_norm_curve"]) == seeds
    assert sorted(rec["figures"]) == ["grad_norms.png", "success.png"]


def test_exploding_physics(expl):
    _, rec = expl
    for entry_p in rec["results"].values():
        m = entry_p["methods"]
        # Without clipping the raw gradient exceeds the threshold the clipped runs use ...
        assert max(float(v) for v in m["none"]["max_grad_norm"]) > exploding.CLIP
        # ... and clipping acts on the pre-clip norm, which is what is recorded.
        assert max(float(v) for v in m["clip"]["frac_steps_above_clip"]) > 0.0
        # Ω's extra term can only change the trajectory, never hide the gradient record.
        assert all(np.isfinite(float(v)) for v in m["clip+omega"]["median_grad_norm"])
