"""benchmarks/*.py --quick: each runs, writes every field, skips torch, measures physics.

The scripts run in this process (one jax, shared compiles, under this session's float64
and strict promotion: the benchmarks pin float32 themselves), with torch hidden, so the
test needs no torch and checks the skip path. sweep_profile also runs once as a program
with --devices 2: XLA_FLAGS must reach XLA before jax is imported.
"""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from benchmarks import (
    contributions,
    esn_fit,
    esn_vs_reservoirpy,
    lag_profile_limit,
    long_sequence,
    parallel_scan,
    scaling,
    sweep_profile,
)

# The scripts time what users run and run more steps than they compile: full compilation.
pytestmark = pytest.mark.optimized
ROOT = Path(__file__).resolve().parents[1]
SKIP = "torch not installed (hidden by RNNGRAD_BENCH_NO_TORCH)"


@pytest.fixture(scope="module")
def recs(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    env = {**os.environ, "RNNGRAD_BENCH_NO_TORCH": "1"}
    env.pop("JAX_ENABLE_X64", None)
    cmd = [sys.executable, "benchmarks/sweep_profile.py", "--quick", "--repeats", "2"]
    proc = subprocess.run(
        [*cmd, "--devices", "2", "--out", str(out)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    recs = {"sweep_profile": json.loads((out / "sweep_profile.json").read_text())}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RNNGRAD_BENCH_NO_TORCH", "1")
        modules = (contributions, scaling, long_sequence, esn_fit, parallel_scan, lag_profile_limit)
        for module in modules:
            name = module.__name__.split(".")[-1]
            recs[name] = module.main(["--quick", "--repeats", "2", "--out", str(out)])
            assert json.loads((out / f"{name}.json").read_text())["table"] == recs[name]["table"]
    return recs


def test_fields_and_skips(recs):
    prof = recs["sweep_profile"]
    assert prof["quick"] is True and prof["repeats"] == 2 and prof["dtype"] == "float32"
    assert prof["environment"]["device_count"] == 2  # --devices reached XLA before jax import
    assert "--xla_force_host_platform_device_count=2" in prof["environment"]["xla_flags"]
    rows = prof["rows"]
    for name in ("rnngrad_sweep", "jit_loop"):
        assert len(rows[name]["times_s"]) == 2
        assert 0 < rows[name]["min_s"] <= rows[name]["median_s"] <= rows[name]["first_s"] + 1
        assert rows[name]["compile_s"] >= 0
    assert rows["jit_loop"]["speedup_of_rnngrad"] > 0
    for name in ("torch_loop", "torch_vmap"):
        assert rows[name] == {"skipped": SKIP}
    assert recs["contributions"]["rows"]["torch_jacrev_loop"] == {"skipped": SKIP}
    tables = prof["table"] + recs["contributions"]["table"]
    for label in ("torch autograd loop", "torch.func.vmap", "torch loop of torch.func.jacrev"):
        line = next(ln for ln in tables.splitlines() if ln.strip().startswith(label))
        assert "skipped: torch not installed" in line
    sc = recs["scaling"]
    assert sc["matmul"]["peak_gflops"] > 0
    grid = {(r["scales"], r["length"]) for r in sc["rows"]}
    assert grid == {(s, t) for s in sc["grid"]["scales"] for t in sc["grid"]["lengths"]}
    assert len(grid) == 4
    for row in sc["rows"]:
        assert row["all_finite"] and row["peak_rss_mib"] > 0 and row["gflops"] > 0
        assert math.isclose(row["fraction_of_peak"], row["gflops"] / sc["matmul"]["peak_gflops"])
    long = recs["long_sequence"]["long"]
    assert long["length"] == 10_000 and long["checkpoint_every"] == 100
    targets = {k: t for rec in recs.values() for k, t in rec["targets"].items()}
    assert set(targets) == {
        "speedup_vs_torch_loop",
        "speedup_vs_torch_vmap",
        "speedup_vs_jit_loop",
        "fraction_of_peak",
        "tt_speedup_vs_torch_jacrev",
        "tt_speedup_vs_jacrev_map",
        "esn_fit_s",
        "long_rss_gib",
        "parallel_grad_speedup_at_max_T",
        "closed_form_speedup_at_max_T",
        "lag_profile_over_forward_large",
        "lag_profile_over_forward_small",
    }
    for key in ("speedup_vs_torch_loop", "speedup_vs_torch_vmap", "tt_speedup_vs_torch_jacrev"):
        assert targets[key]["status"] == "skipped" and targets[key]["value"] is None
    for key in (
        "speedup_vs_jit_loop",
        "fraction_of_peak",
        "tt_speedup_vs_jacrev_map",
        "parallel_grad_speedup_at_max_T",
        "closed_form_speedup_at_max_T",
        "lag_profile_over_forward_large",
        "lag_profile_over_forward_small",
    ):
        assert targets[key]["status"] in ("met", "short") and targets[key]["value"] > 0
    assert targets["esn_fit_s"]["status"] == "met" and recs["esn_fit"]["esn"]["median_s"] > 0
    assert recs["esn_fit"]["esn"]["train_nrmse"] < 0.1
    assert all(rec["seconds"] > 0 and "environment" in rec for rec in recs.values())


def test_numbers_are_right(recs):
    checks = recs["sweep_profile"]["checks"]
    # The one jit(vmap) program and the loop of jitted calls compute the same numbers.
    assert checks["sweep_vs_jit_loop_max_abs_dlog10"] < 1e-4
    assert checks["rnngrad_vs_float64_max_abs_dlog10"] < 1e-3
    tt = recs["contributions"]["checks"]
    assert tt["rnngrad_vs_float64_max_abs_dlog10"] < 1e-3
    assert tt["jacrev_vs_float64_max_abs_dlog10_above_1e-15"] < 1e-3
    # Physics: every norm obeys Pascanu et al.'s bound (√H (‖W_rec‖₂)^lag for tanh) ...
    assert checks["pascanu_bound_holds"]
    # ... and the gradient vanishes faster the smaller the recurrent scale.
    decay = checks["decay_by_scale"]
    rates = [decay[s]["decades_per_step"] for s in sorted(decay, key=float)]
    assert rates[0] < rates[1] < rates[2] and rates[0] < -0.2
    # The long profile stays exact (finite logs) far below float32's range.
    long = recs["long_sequence"]["long"]
    assert long["all_finite"] and long["log10_norm_max_lag"] < -100


def test_lag_profile_limit_numbers(recs):
    rec = recs["lag_profile_limit"]
    for size in rec["by_size"].values():
        rows = size["rows"]
        assert set(rows) == {"forward", "by_hand", "two_products", "profile", "profile_generic"}
        for row in rows.values():
            assert row["compile_s"] >= 0 and row["median_s"] > 0 and row["ratio_to_forward"] > 0
        assert rows["forward"]["ratio_to_forward"] == 1.0
    # The cell's carry_pullback and the generic jax.vjp compute the same float32 profile.
    for key, value in rec["checks"].items():
        assert key.endswith("fast_vs_generic_max_abs_dlog10") and value < 1e-3, key
    assert rec["contributions"]["contributions"]["speedup_vs_generic"] > 0


def test_torch_baselines_agree_with_each_other_and_the_oracle():
    torch = pytest.importorskip("torch")
    from rnngrad import _oracle

    rng = np.random.default_rng(0)
    h, i, t = 6, 3, 8
    p = {
        "weight_hh": rng.normal(size=(h, h)) / np.sqrt(h),
        "weight_ih": rng.normal(size=(h, i)),
        "bias": np.zeros(h),
        "xs": rng.normal(size=(t, i)),
        "ys": rng.normal(size=(t, h)),
    }
    scales = np.array([0.5, 1.0, 1.5], np.float32)
    loop = sweep_profile.torch_profile_loop(torch, p, scales)
    vmapped = sweep_profile.torch_profile_vmap(torch, p, scales)
    assert loop.shape == vmapped.shape == (3, t)
    np.testing.assert_allclose(loop, vmapped, rtol=1e-5)
    np.testing.assert_allclose(loop[:, -1], np.sqrt(h), rtol=1e-6)  # ‖∂(Σh)/∂h_T‖ = √H
    args = [p[k] for k in ("weight_hh", "weight_ih", "bias", "xs")]
    np.testing.assert_allclose(loop, 10.0 ** _oracle.tanh_final_profile(*args, scales), rtol=1e-4)
    tt = contributions.torch_contributions_jacrev(torch, p, scales)
    assert tt.shape == (3, t, t)
    assert np.all(tt[:, np.triu_indices(t, 1)[0], np.triu_indices(t, 1)[1]] == 0)
    want = 10.0 ** _oracle.tanh_contributions(*args, p["ys"], scales)
    np.testing.assert_allclose(tt, want, rtol=1e-4, atol=1e-30)


def test_oracle_profile_is_the_last_row_of_the_contributions():
    from rnngrad import _oracle

    rng = np.random.default_rng(1)
    w, w_ih, xs = rng.normal(size=(5, 5)) / 2, rng.normal(size=(5, 2)), rng.normal(size=(9, 2))
    states, _ = _oracle.tanh_rnn(w, w_ih, np.zeros(5), xs, [1.3])
    ys = states[:, 0] - 1.0  # ∂L_t/∂h_t = h_t - y_t = 1 for every unit at every step
    rows = _oracle.tanh_contributions(w, w_ih, np.zeros(5), xs, ys, [1.3])
    profile = _oracle.tanh_final_profile(w, w_ih, np.zeros(5), xs, [1.3])
    np.testing.assert_allclose(rows[:, -1], profile, rtol=1e-12)


def test_parallel_scan_benchmark_numbers(recs):
    rec = recs["parallel_scan"]
    rows, checks = rec["rows"], rec["checks"]
    assert [r["length"] for r in rows["unroll"]] == rec["config"]["lengths"]
    for r in rows["unroll"]:
        ratio = r["sequential_forward"]["median_s"] / r["parallel_forward"]["median_s"]
        assert r["forward_ratio"] == pytest.approx(ratio)
        assert r["max_rel_diff"] < 1e-4  # float32: the two scans agree to rounding
    for r in rows["anatomy"]:
        assert r["same_zeros"] and r["max_abs_dlog10"] < 1e-3
        assert r["ratio"] == pytest.approx(r["scan"]["median_s"] / r["diagonal"]["median_s"])
    assert checks["anatomy_same_zeros"] is True
    assert set(rec["targets"]) == {"parallel_grad_speedup_at_max_T", "closed_form_speedup_at_max_T"}


@pytest.mark.parametrize(
    "ratios, expected",
    [
        ([0.5, 0.8, 0.9], None),  # never faster
        ([1.2, 1.5, 2.0], 10.0),  # faster everywhere: the first T
        ([0.5, 2.0, 3.0], 10.0 * 10.0 ** (math.log(2) / math.log(4))),  # log-interpolated
        ([2.0, 0.5, 1.5], 100.0 * 10.0 ** (math.log(2) / math.log(3))),  # the last crossing
    ],
)
def test_parallel_scan_crossover(ratios, expected):
    got = parallel_scan.crossover([10, 100, 1000], ratios)
    assert got == expected if expected is None else got == pytest.approx(expected)


def test_esn_vs_reservoirpy_quick(tmp_path, monkeypatch):
    """esn_vs_reservoirpy --quick: every rnngrad row and check; reservoirpy hidden (skip rows)."""
    monkeypatch.setenv("RNNGRAD_BENCH_NO_RESERVOIRPY", "1")
    rec = esn_vs_reservoirpy.main(["--quick", "--repeats", "1", "--out", str(tmp_path)])
    assert json.loads((tmp_path / "esn_vs_reservoirpy.json").read_text())["table"] == rec["table"]
    rows, checks = rec["rows"], rec["checks"]
    skip = {"skipped": "reservoirpy: not installed (hidden by RNNGRAD_BENCH_NO_RESERVOIRPY)"}
    for part in ("build", "states", "ridge", "total", "grid"):
        assert rows[f"reservoirpy_{part}"] == skip
    assert rows["previous_grid"] == {"skipped": "full sizes only"}
    timed = [
        f"{p}_{part}" for p in ("rnngrad", "previous") for part in ("build", "states", "ridge")
    ]
    timed += ["states_row_sparse", "states_dense", "states_bcoo", "rnngrad_grid"]
    for name in timed:
        assert 0 < rows[name]["median_s"] and rows[name]["compile_s"] >= 0
    parts = sum(rows[f"rnngrad_{p}"]["median_s"] for p in ("build", "states", "ridge"))
    assert math.isclose(rows["rnngrad_total"]["median_s"], parts)
    assert checks["row_sparse_vs_dense_states_max_abs"] <= 1e-12
    assert checks["rnngrad_radius_error"] <= 1e-8 and checks["rnngrad_nrmse"] < 0.01
    assert {t["status"] for t in rec["targets"].values()} == {"skipped"}
    assert "reservoirpy: not installed" in rec["table"]
