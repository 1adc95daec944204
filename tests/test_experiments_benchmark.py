"""experiments/benchmark.py --quick: runs, writes every field, skips torch, measures physics.

The script runs in a fresh Python (it must set XLA_FLAGS before jax is imported, and it
benchmarks float32, while this test session has float64 on), with torch hidden, so the
test needs no torch and checks the skip path.
"""

import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "experiments" / "benchmark.py"


def _run(tmp_path, *extra, env_extra=None):
    env = {**os.environ, "RNNGRAD_BENCH_NO_TORCH": "1", **(env_extra or {})}
    env.pop("JAX_ENABLE_X64", None)
    out = tmp_path / "bench"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--repeats", "2", "--out", str(out), *extra],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout, json.loads((out / "benchmark.json").read_text())


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    return _run(tmp_path_factory.mktemp("quick"), "--devices", "2")


def test_fields_and_skips(quick):
    stdout, rec = quick
    assert rec["quick"] is True and rec["repeats"] == 2
    assert rec["environment"]["dtype"] == "float32"
    assert rec["environment"]["device_count"] == 2  # --devices reached XLA before jax import
    assert "--xla_force_host_platform_device_count=2" in rec["environment"]["xla_flags"]
    rows = rec["profile"]["rows"]
    for name in ("rnngrad_sweep", "jit_loop"):
        assert len(rows[name]["times_s"]) == 2
        assert 0 < rows[name]["min_s"] <= rows[name]["median_s"]
    assert rows["jit_loop"]["speedup_of_rnngrad"] > 0
    for name in ("torch_loop", "torch_vmap"):
        assert rows[name] == {"skipped": "torch not installed (hidden by RNNGRAD_BENCH_NO_TORCH)"}
    assert rec["contributions"]["rows"]["torch_jacrev_loop"]["skipped"].startswith("torch not")
    for label in ("torch autograd loop", "torch.func.vmap", "torch loop of torch.func.jacrev"):
        line = next(ln for ln in stdout.splitlines() if ln.strip().startswith(label))
        assert "skipped: torch not installed" in line
    assert rec["matmul"]["peak_gflops"] > 0
    sizes = rec["sizes"]
    grid = {(r["scales"], r["length"]) for r in rec["scaling"]["rows"]}
    assert grid == {(s, t) for s in sizes["scaling_scales"] for t in sizes["scaling_lengths"]}
    for row in rec["scaling"]["rows"]:
        assert row["all_finite"] and row["peak_rss_mib"] > 0 and row["gflops"] > 0
        assert math.isclose(row["fraction_of_peak"], row["gflops"] / rec["matmul"]["peak_gflops"])
    assert rec["long"]["length"] == 10_000 and rec["long"]["checkpoint_every"] == 100
    assert set(rec["targets"]) == {
        "speedup_vs_torch_loop",
        "speedup_vs_torch_vmap",
        "speedup_vs_jit_loop",
        "fraction_of_peak",
        "tt_speedup_vs_torch_jacrev",
        "tt_speedup_vs_jacrev_map",
        "esn_fit_s",
        "long_rss_gib",
    }
    for key in ("speedup_vs_torch_loop", "speedup_vs_torch_vmap", "tt_speedup_vs_torch_jacrev"):
        assert rec["targets"][key]["status"] == "skipped"
    for key in ("speedup_vs_jit_loop", "fraction_of_peak", "tt_speedup_vs_jacrev_map"):
        assert rec["targets"][key]["status"] in ("met", "short")
    assert (rec["esn"].get("median_s", 0) > 0) or "skipped" in rec["esn"]


def test_numbers_are_right(quick):
    _, rec = quick
    checks = rec["profile"]["checks"]
    # The one jit(vmap) program and the loop of jitted calls compute the same numbers.
    assert checks["sweep_vs_jit_loop_max_abs_dlog10"] < 1e-4
    assert checks["rnngrad_vs_float64_max_abs_dlog10"] < 1e-3
    tt = rec["contributions"]["checks"]
    assert tt["rnngrad_vs_float64_max_abs_dlog10"] < 1e-3
    assert tt["jacrev_vs_float64_max_abs_dlog10_above_1e-15"] < 1e-3
    # Physics: every norm obeys Pascanu et al.'s bound (√H (‖W_rec‖₂)^lag for tanh) ...
    assert checks["pascanu_bound_holds"]
    # ... and the gradient vanishes faster the smaller the recurrent scale.
    decay = checks["decay_by_scale"]
    rates = [decay[s]["decades_per_step"] for s in sorted(decay, key=float)]
    assert rates[0] < rates[1] < rates[2] and rates[0] < -0.2
    # The long profile stays exact (finite logs) far below float32's range.
    long = rec["long"]
    assert long["all_finite"] and long["log10_norm_max_lag"] < -100


def test_torch_baselines_agree_with_each_other():
    torch = pytest.importorskip("torch")
    spec = importlib.util.spec_from_file_location("rnngrad_benchmark", SCRIPT)
    bench = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = bench  # dataclasses look their module up there
    try:
        spec.loader.exec_module(bench)
    finally:
        del sys.modules[spec.name]
    rng = np.random.default_rng(0)
    h, i, t = 6, 3, 8
    params = {
        "weight_hh": rng.normal(size=(h, h)) / np.sqrt(h),
        "weight_ih": rng.normal(size=(h, i)),
        "bias": np.zeros(h),
        "xs": rng.normal(size=(t, i)),
        "ys": rng.normal(size=(t, h)),
    }
    scales = np.array([0.5, 1.0, 1.5], np.float32)
    loop = bench.torch_profile_loop(torch, params, scales)
    vmapped = bench.torch_profile_vmap(torch, params, scales)
    assert loop.shape == vmapped.shape == (3, t)
    np.testing.assert_allclose(loop, vmapped, rtol=1e-5)
    np.testing.assert_allclose(loop[:, -1], np.sqrt(h), rtol=1e-6)  # ‖∂(Σh)/∂h_T‖ = √H
    reference = 10.0 ** bench.reference_log10_profile_f64(params, scales)
    np.testing.assert_allclose(loop, reference, rtol=1e-4)
    tt = bench.torch_contributions_jacrev(torch, params, scales)
    assert tt.shape == (3, t, t)
    assert np.all(tt[:, np.triu_indices(t, 1)[0], np.triu_indices(t, 1)[1]] == 0)
