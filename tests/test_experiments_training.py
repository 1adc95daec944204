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

import rnngrad as rg

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
    out, x64 = tmp_path_factory.mktemp("vanishing"), jax.config.jax_enable_x64
    try:  # the runner switches to the script's float32; restore the suite's precision
        returned, record = _run(vanishing, out, "vanishing")
    finally:
        jax.config.update("jax_enable_x64", x64)
    with np.load(out / "vanishing.npz") as arrays:
        return returned, record, dict(arrays)


@pytest.fixture(scope="module")
def expl(tmp_path_factory):
    out, x64 = tmp_path_factory.mktemp("exploding"), jax.config.jax_enable_x64
    try:  # the runner switches to the script's float32; restore the suite's precision
        returned, record = _run(exploding, out, "exploding")
    finally:
        jax.config.update("jax_enable_x64", x64)
    with np.load(out / "exploding.npz") as arrays:
        return returned, record, dict(arrays)


def test_vanishing_fields(van):
    _, rec, arrays = van
    assert rec["quick"] is True and vanishing.EXPERIMENT.x64 is False
    assert set(rec["results"]) == set(vanishing.MODELS)
    seeds = rec["config"]["seeds"]
    runs = [vanishing.run_key(v, n) for v, n in rec["config"]["runs"]]
    assert runs == ["arjovsky_T20"]
    for model in vanishing.MODELS:
        assert sorted(rec["results"][model]) == sorted(runs)
        for run in runs:
            e = rec["results"][model][run]
            for field in (
                "test_mse",
                "median_test_mse",
                "mse_success",
                "mse_success_rate",
                "mse_success_95ci",
                "stuck",
                "solved",
                "solved_rate",
                "solved_95ci",
                "test_error_rate",
                "first_divergent_step",
            ):
                assert field in e, (model, field)
            assert len(e["test_mse"]) == len(e["solved"]) == seeds
            assert e["mse_success"] == [m < vanishing.MSE_THRESHOLD for m in e["test_mse"]]
            assert e["median_test_mse"] == pytest.approx(np.median(e["test_mse"]))
            lo, hi = e["mse_success_95ci"]
            assert 0.0 <= lo <= e["mse_success_rate"] <= hi <= 1.0
            # A seed stuck at the predict-the-mean baseline cannot be a success.
            assert 0 <= e["stuck"] <= seeds - sum(e["mse_success"])
            assert all(isinstance(v, int) for v in e["first_divergent_step"])
            if model != "esn":
                assert arrays[f"loss_curve_{model}_{run}"].shape[0] == seeds
            # every run's rate and interval are checks: the report reads them
            assert rec["checks"][f"{model}_{run}_success"] == e["mse_success_rate"]
            assert rec["checks"][f"{model}_{run}_success_95ci"] == [lo, hi]
    assert sorted(rec["figures"]) == ["lag_profiles.png", "success.png", "training.png"]
    (headers, rows), (_, prof_rows) = rec["tables"].values()
    assert headers == vanishing.HEADERS
    assert len(rows) == len(vanishing.MODELS) * len(runs) + 1  # + the RMSprop tanh run
    rms = rec["tanh_rmsprop"]  # Arjovsky et al.'s training of the tanh RNN
    assert len(rms["test_mse"]) == seeds and rms["hidden"] == rec["config"]["rmsprop"]["hidden"]
    assert (
        rec["checks"][f"tanh_rmsprop_arjovsky_T{rms['length']}_success"] == rms["mse_success_rate"]
    )
    assert arrays["loss_curve_tanh_rmsprop"].shape[0] == seeds
    assert {r[1] for r in rows} == {"arjovsky"}  # the variant column
    assert len(prof_rows) == len(vanishing.MODELS)
    assert abs(rec["baseline_mse"] - 1 / 6) < 1e-12
    # The paper comparisons read T = 100, which --quick does not run; each names its
    # variant (the papers' windows) and reads its own interval.
    expected = vanishing.EXPERIMENT.expected
    assert {e.check for e in expected} == {
        *(f"{m}_arjovsky_T100_success" for m in ("lstm", "lstm_chrono", "irnn", "tanh_gaussian")),
        *(f"{m}_hochreiter_T100_success" for m in ("lstm", "irnn")),
        "tanh_rmsprop_arjovsky_T100_success",
    }
    assert all(e.interval == e.check + "_95ci" for e in expected)
    assert all(e.variant == vanishing.VARIANTS[e.check.split("_")[-3]] for e in expected)
    assert all(row["match"] == "?" for row in rec["comparisons"])


def test_vanishing_lag_profiles_physics(van):
    _, rec, arrays = van
    lp = rec["lag_profiles"]
    t = lp["length"]
    prof = dict(zip(vanishing.MODELS, arrays["profiles_init"]))
    assert arrays["profiles_trained"].shape == (len(vanishing.MODELS), t)
    for m, p in prof.items():
        assert p.shape == (t,) and np.all(np.isfinite(p)), m
        assert abs(p[0]) < 1e-6  # relative to lag 0 (float32: the script's precision)
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
    _, rec, arrays = expl
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
            ):
                assert field in e, (problem, method, field)
            assert len(e["first_divergent_step"]) == seeds
            assert all(isinstance(v, int) and v >= -1 for v in e["first_divergent_step"])
            lo, hi = e["success_95ci"]
            assert 0.0 <= lo <= e["success_rate"] <= hi <= 1.0
            for curve in ("grad_norm_curve", "loss_curve"):
                assert arrays[f"{curve}_{problem}_{method}"].shape[0] == seeds
    assert sorted(rec["figures"]) == ["grad_norms.png", "pascanu.png", "success.png"]
    assert len(rec["tables"]) == 4
    rows = next(iter(rec["tables"].values()))[1]
    assert len(rows) == len(rec["results"]) * len(exploding.METHODS)


def test_exploding_checks(expl):
    """The paper comparisons read the clip+Ω success rate and its margin over the rest."""
    _, rec, _ = expl
    for entry_p in rec["results"].values():
        if entry_p["task"] != "temporal_order":
            continue
        rate = {m: e["success_rate"] for m, e in entry_p["methods"].items()}
        best_other = max(v for m, v in rate.items() if m != "clip+omega")
        prefix = f"temporal_order_{entry_p['length']}_clip_omega"
        assert rec["checks"][f"{prefix}_success"] == rate["clip+omega"]
        assert rec["checks"][f"{prefix}_margin"] == pytest.approx(rate["clip+omega"] - best_other)
    # One row per declared comparison; the lengths not run at this size say so.
    assert len(rec["comparisons"]) == len(exploding.EXPERIMENT.expected) == 8
    assert any(row["ours"].startswith("not measured") for row in rec["comparisons"])


def test_exploding_pascanu_setup(expl):
    """Pascanu et al.'s own setup: clipping alone and with Ω per task; solved = no error
    on the test sequences (their criterion), read into the checks."""
    _, rec, arrays = expl
    ((bits, length),) = rec["config"]["pascanu"]["problems"]
    problem = f"temporal_order{bits}_T{length}"
    entry = rec["pascanu"][problem]
    for method in ("clip", "clip+omega"):
        e = entry[method]
        assert e["solved"] == [err == 0.0 for err in e["test_error_rate"]]
        assert len(e["solved"]) == len(e["steps_to_train_loss_below"]) == rec["config"]["seeds"]
        assert e["success_rate"] == np.mean(e["solved"])
        assert rec["checks"][f"pascanu_{problem}_{method}_success"] == e["success_rate"]
        assert arrays[f"pascanu_loss_curve_{problem}_{method}"].shape[0] == len(e["solved"])
    rates = [entry[m]["success_rate"] for m in ("clip+omega", "clip")]
    assert rec["checks"][f"pascanu_{problem}_omega_margin"] == rates[0] - rates[1]
    # the two arms differ only in Ω (same keys): Ω must change the updates
    clip, omega = (arrays[f"pascanu_loss_curve_{problem}_{m}"] for m in ("clip", "clip+omega"))
    assert not np.allclose(clip, omega)


def test_pascanu_init_is_sparse_at_radius():
    cell = exploding.pascanu_cell(rg.TemporalOrderTask(20), 50, jax.random.key(3))
    w = np.asarray(cell.weight_hh, float)
    assert np.all((w != 0).sum(axis=1) == exploding.PASCANU_NONZEROS)
    assert np.max(np.abs(np.linalg.eigvals(w))) == pytest.approx(exploding.PASCANU_RADIUS)
    assert np.std(np.asarray(cell.weight_ih)) == pytest.approx(exploding.PASCANU_STD, rel=0.1)


def test_first_step_below_reads_the_training_curve():
    curve = np.r_[np.ones(300), np.full(200, 0.01)]
    nan_then = np.r_[np.full(100, np.nan), np.ones(400)]
    firsts = exploding._first_below(np.stack([curve, nan_then]), 0.05, window=100)
    # the trailing 100-step mean drops below 0.05 once 96 low steps are in the window
    assert firsts == [300 + 96 - 1, -1]


def test_exploding_physics(expl):
    _, rec, _ = expl
    for entry_p in rec["results"].values():
        m = entry_p["methods"]
        # Without clipping the raw gradient exceeds the threshold the clipped runs use ...
        assert max(float(v) for v in m["none"]["max_grad_norm"]) > exploding.CLIP
        # ... and clipping acts on the pre-clip norm, which is what is recorded.
        assert max(float(v) for v in m["clip"]["frac_steps_above_clip"]) > 0.0
        # Ω's extra term can only change the trajectory, never hide the gradient record.
        assert all(np.isfinite(float(v)) for v in m["clip+omega"]["median_grad_norm"])
