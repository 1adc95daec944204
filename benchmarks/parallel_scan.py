"""Speed: the parallel (associative) scan and the closed-form anatomy of linear recurrences.

Command:  python benchmarks/parallel_scan.py [--quick] [--out DIR] [--repeats R] [--devices N]
Runtime:  about a minute on a 2-core CPU (a third of it compiling); --quick ~30 s.
Measures: (1) rg.unroll(cell, xs, carry0, parallel=True) (jax.lax.associative_scan of the
          diagonal protocol's (a_t, b_t)) against the sequential lax.scan, for an LRUCell
          (H = 64 complex modes, input 8, float32) at T = 10³, 10⁴, 10⁵: forward alone and
          forward + jax.grad (w.r.t. the cell's parameters and the inputs), each the median
          of --repeats calls after compiling; the ratio sequential / parallel and the
          crossover T (log-interpolated where the ratio crosses 1); the largest relative
          difference of the carries. (2) rg.timestep_contributions(..., method="diagonal")
          (closed form from sums of log|a|) against the generic backward scan (method="scan")
          at T = 100, 300, 1000 (LRUCell, H = 32, float32): times, ratio, and the largest
          |Δ log10 norm| between the two.
Numbers:  printed, and in <out>/parallel_scan.json (rows, checks, targets).
"""

import math
import time
from typing import Any

import numpy as np

try:
    import _timing as tm
except ImportError:  # imported as benchmarks.parallel_scan
    from benchmarks import _timing as tm


def crossover(lengths: list[int], ratios: list[float]) -> float | None:
    """The T from which the parallel scan stays faster (sequential / parallel >= 1 at this
    and every longer grid T), log-log interpolated from the grid point before; the first T
    if it wins everywhere, None if it loses at the longest T."""
    if ratios[-1] < 1.0:
        return None
    i = len(ratios) - 1
    while i > 0 and ratios[i - 1] >= 1.0:
        i -= 1
    if i == 0:
        return float(lengths[0])
    (t0, r0), (t1, r1) = (lengths[i - 1], ratios[i - 1]), (lengths[i], ratios[i])
    w = -math.log(r0) / (math.log(r1) - math.log(r0))
    return float(math.exp(math.log(t0) + w * (math.log(t1) - math.log(t0))))


def main(argv: list[str] | None = None) -> dict:
    args = tm.parse(__doc__, argv)
    import equinox as eqx
    import jax
    import jax.numpy as jnp

    import rnngrad as rg

    started, f32, inputs = time.perf_counter(), jnp.float32, 8
    hidden, lengths = (16, [100, 1000]) if args.quick else (64, [1000, 10_000, 100_000])
    a_hidden, a_lengths = (8, [30, 100]) if args.quick else (32, [100, 300, 1000])
    rows: dict[str, Any] = {"unroll": [], "anatomy": []}

    # (1) parallel vs sequential unroll
    cell = rg.LRUCell(inputs, hidden, dtype=f32, key=jax.random.key(0))
    carry0 = rg.init_carry(cell)

    def loss(cell: Any, xs: Any, parallel: bool) -> Any:
        return jnp.sum(jnp.square(rg.unroll(cell, xs, carry0, parallel=parallel)))

    for length in lengths:
        xs = jax.random.normal(jax.random.key(1), (length, inputs), f32)
        row: dict[str, Any] = {"length": length, "hidden": hidden}
        carries = {}
        for parallel in (False, True):
            name = "parallel" if parallel else "sequential"
            forward = jax.jit(lambda xs, p=parallel: rg.unroll(cell, xs, carry0, parallel=p))
            grad = eqx.filter_jit(jax.grad(lambda c, x, p=parallel: loss(c, x, p), argnums=(0, 1)))
            row[f"{name}_forward"], carries[name] = tm.time_fn(
                lambda f=forward, xs=xs: jax.block_until_ready(f(xs)), args.repeats
            )
            row[f"{name}_grad"], _ = tm.time_fn(
                lambda g=grad, xs=xs: jax.block_until_ready(g(cell, xs)), args.repeats
            )
        for what in ("forward", "grad"):
            row[f"{what}_ratio"] = (
                row[f"sequential_{what}"]["median_s"] / (row[f"parallel_{what}"]["median_s"])
            )
        seq, par = np.asarray(carries["sequential"]), np.asarray(carries["parallel"])
        row["max_rel_diff"] = float(np.max(np.abs(par - seq)) / np.max(np.abs(seq)))
        rows["unroll"].append(row)

    # (2) closed-form vs generic timestep contributions
    a_cell = rg.LRUCell(inputs, a_hidden, dtype=f32, key=jax.random.key(2))
    a_carry0 = rg.init_carry(a_cell)

    def step_loss(carry: Any, y: Any) -> Any:
        return 0.5 * jnp.sum(jnp.square(a_cell.output(carry) - y))

    for length in a_lengths:
        xs = jax.random.normal(jax.random.key(3), (length, inputs), f32)
        ys = jax.random.normal(jax.random.key(4), (length, inputs), f32)
        row = {"length": length, "hidden": a_hidden}
        logs = {}
        for method in ("scan", "diagonal"):
            run = eqx.filter_jit(
                lambda xs, ys, m=method: (
                    rg.timestep_contributions(
                        a_cell, xs, a_carry0, step_loss, ys, method=m
                    ).log_norms
                )
            )
            row[method], logs[method] = tm.time_fn(
                lambda r=run, xs=xs, ys=ys: np.asarray(r(xs, ys)), args.repeats
            )
        row["ratio"] = row["scan"]["median_s"] / row["diagonal"]["median_s"]
        finite = np.isfinite(logs["scan"])
        same = bool(np.array_equal(finite, np.isfinite(logs["diagonal"])))
        diff = np.abs(logs["diagonal"][finite] - logs["scan"][finite])
        row.update(same_zeros=same, max_abs_dlog10=float(np.max(diff)))
        rows["anatomy"].append(row)

    # table
    fwd = [r["forward_ratio"] for r in rows["unroll"]]
    grd = [r["grad_ratio"] for r in rows["unroll"]]
    checks: dict[str, Any] = {
        "unroll_crossover_T_forward": crossover(lengths, fwd),
        "unroll_crossover_T_grad": crossover(lengths, grd),
        "unroll_max_rel_diff": max(r["max_rel_diff"] for r in rows["unroll"]),
        "anatomy_max_abs_dlog10": max(r["max_abs_dlog10"] for r in rows["anatomy"]),
        "anatomy_same_zeros": all(r["same_zeros"] for r in rows["anatomy"]),
    }
    lines = [
        f"(1) rg.unroll of an LRUCell (H={hidden}, input {inputs}, float32): sequential "
        "lax.scan vs parallel=True (associative_scan); ratio = sequential / parallel",
        f"  {'T':>7} {'fwd seq':>10} {'fwd par':>10} {'ratio':>6}  "
        f"{'grad seq':>10} {'grad par':>10} {'ratio':>6}  {'max rel diff':>12}",
    ]
    for r in rows["unroll"]:
        fs, fp = r["sequential_forward"]["median_s"], r["parallel_forward"]["median_s"]
        gs, gp = r["sequential_grad"]["median_s"], r["parallel_grad"]["median_s"]
        lines.append(
            f"  {r['length']:>7} {tm.fmt_s(fs):>10} {tm.fmt_s(fp):>10} {r['forward_ratio']:6.2f}"
            f"  {tm.fmt_s(gs):>10} {tm.fmt_s(gp):>10} {r['grad_ratio']:6.2f}"
            f"  {r['max_rel_diff']:12.2e}"
        )
    for what in ("forward", "grad"):
        cross = checks[f"unroll_crossover_T_{what}"]
        where = f"T ≈ {cross:.3g}" if cross is not None else f"none up to T = {lengths[-1]}"
        lines.append(f"  crossover ({what}): parallel faster from {where}")
    lines += [
        f"(2) rg.timestep_contributions of an LRUCell (H={a_hidden}, float32): generic "
        'backward scan vs method="diagonal" (closed form); ratio = scan / diagonal',
        f"  {'T':>7} {'scan':>10} {'diagonal':>10} {'ratio':>6}  {'max |dlog10|':>12}",
    ]
    for r in rows["anatomy"]:
        lines.append(
            f"  {r['length']:>7} {tm.fmt_s(r['scan']['median_s']):>10} "
            f"{tm.fmt_s(r['diagonal']['median_s']):>10} {r['ratio']:6.2f}"
            f"  {r['max_abs_dlog10']:12.2e}"
        )
    targets = {
        "parallel_grad_speedup_at_max_T": tm.target(
            f"parallel unroll fwd+grad speedup, T={lengths[-1]}", ">=", 1.0, grd[-1]
        ),
        "closed_form_speedup_at_max_T": tm.target(
            f"closed-form anatomy speedup, T={a_lengths[-1]}",
            ">=",
            2.0,
            rows["anatomy"][-1]["ratio"],
        ),
    }
    config = {"inputs": inputs, "hidden": hidden, "lengths": lengths}
    config.update(anatomy_hidden=a_hidden, anatomy_lengths=a_lengths, cell="LRUCell")
    record = {"config": config, "dtype": "float32", "rows": rows, "checks": checks}
    record["targets"] = targets
    return tm.finish(args, "parallel_scan", started, lines, record)


if __name__ == "__main__":
    main()
