"""Speed: exact lag profiles against the forward pass they cannot beat (issue #15, item 1).

Command:  python benchmarks/lag_profile_limit.py [--quick] [--out DIR] [--repeats R] [--devices N]
Runtime:  about 25 s on a 2-core CPU; --quick ~10 s.
Measures: for a tanh cell (H = 64, input 8, float32) and S recurrent scales in [0.5, 1.5], at
          (S, T) = (1024, 1000) and (256, 200): the time of rg.final_step_profile of L = Σ h_T
          under rg.sweep, of the same with the cell's `carry_pullback` hidden (the generic
          jax.vjp of every step, the path before it), of a bare forward lax.scan of the same
          batched step keeping no state (the unit: a profile needs one product forward and one
          back, so 2 is the floor), of a hand-written forward that keeps the states and a
          backward of v -> (scale · v ⊙ (1 − h²)) W without renormalising (by_hand: the profile
          without log-space bookkeeping), and of the same keeping no state (two_products: h
          held at the final state, all in cache: two products and their elementwise work);
          each as compile (first call − median) and run (median). Then the T × T
          contributions (S = 64, T = 100) with and without `carry_pullback`, and that the
          fast and generic paths agree.
Numbers:  printed, and in <out>/lag_profile_limit.json (rows per size, ratios, checks, targets).
"""

import time
from typing import Any

import numpy as np

try:
    import _timing as tm
except ImportError:  # imported as benchmarks.lag_profile_limit
    from benchmarks import _timing as tm

TARGET_RATIO = 2.5  # issue #15: profile time / bare forward time


def hide_pullback(rg: Any) -> Any:
    """A wrapper class that forwards a cell's step but not its `carry_pullback`."""

    class Generic(rg.AbstractCell):
        inner: Any

        def __call__(self, x: Any, carry: Any) -> Any:
            return self.inner(x, carry)

        def init_carry(self) -> Any:
            return self.inner.init_carry()

    return Generic


def size_rows(rg: Any, n_s: int, length: int, repeats: int) -> tuple[dict, dict]:
    """Time the four rows at one (S, T); return the rows and the agreement checks."""
    import jax
    import jax.numpy as jnp

    prob, scales, generic = tm.problem(64, 8, length), tm.scales(n_s), hide_pullback(rg)
    cell, xs, h0 = prob.cell, jnp.asarray(prob.numpy["xs"]), jnp.zeros(64, jnp.float32)
    scaled = lambda s: rg.scale_recurrent(cell, s)

    def profile(scale: Any, hide: bool = False) -> Any:
        c = generic(scaled(scale)) if hide else scaled(scale)
        return rg.final_step_profile(c, xs, h0, jnp.sum).log_norms

    def forward(scale: Any) -> Any:
        c = scaled(scale)
        return jax.lax.scan(lambda h, x: (c(x, h), None), h0, xs)[0]

    def by_hand(scale: Any, keep: bool = True) -> Any:
        """Forward, then v -> scale (v ⊙ (1 − h²)) W back; `keep=False` stores no state and
        holds h at the final state (two products and their elementwise work, in cache)."""
        c = scaled(scale)
        final, hs = jax.lax.scan(lambda h, x: (c(x, h), h if keep else None), h0, xs)
        w = cell.weight_hh

        def back(carry: Any, h_prev: Any) -> Any:
            v, h = carry  # v = dL/dh, h the state that v belongs to
            v = scale * jnp.matmul(v * (1 + h) * (1 - h), w, precision=jax.lax.Precision.HIGHEST)
            return (v, h if h_prev is None else h_prev), jnp.sum(v * v)

        init = (jnp.ones_like(final), final)
        return jax.lax.scan(back, init, hs, length=length, reverse=True)[1]

    forward_all, by_hand_all = jax.jit(jax.vmap(forward)), jax.jit(jax.vmap(by_hand))
    floor_all = jax.jit(jax.vmap(lambda scale: by_hand(scale, False)))
    hidden = lambda scale: profile(scale, True)  # one function: rg.sweep compiles it once
    fns = {
        "forward": lambda: forward_all(scales),
        "by_hand": lambda: by_hand_all(scales),
        "two_products": lambda: floor_all(scales),
        "profile": lambda: rg.sweep(profile, scale=scales).values,
        "profile_generic": lambda: rg.sweep(hidden, scale=scales).values,
    }
    rows, values = {}, {}
    for name, fn in fns.items():
        rows[name], values[name] = tm.time_fn(lambda fn=fn: np.asarray(fn()), repeats)
    for row in rows.values():
        row["ratio_to_forward"] = row["median_s"] / rows["forward"]["median_s"]
        row["cpu_ratio_to_forward"] = row["cpu_median_s"] / rows["forward"]["cpu_median_s"]
    diff = np.abs(values["profile"] - values["profile_generic"])
    checks = {"profile_fast_vs_generic_max_abs_dlog10": float(np.max(diff))}
    return rows, checks


def contribution_rows(rg: Any, n_s: int, length: int, repeats: int) -> tuple[dict, dict]:
    """rg.timestep_contributions under rg.sweep with and without `carry_pullback`."""
    prob, scales, generic = tm.problem(64, 8, length), tm.scales(n_s), hide_pullback(rg)
    import jax.numpy as jnp

    xs, ys = jnp.asarray(prob.numpy["xs"]), jnp.asarray(prob.numpy["ys"])
    h0, loss = jnp.zeros(64, jnp.float32), lambda h, y: 0.5 * jnp.sum((h - y) ** 2)

    def contributions(scale: Any, hide: bool = False) -> Any:
        c = rg.scale_recurrent(prob.cell, scale)
        c = generic(c) if hide else c
        return rg.timestep_contributions(c, xs, h0, loss, ys).log_norms

    fns = {
        "contributions": lambda scale: contributions(scale),
        "contributions_generic": lambda scale: contributions(scale, True),
    }
    rows, values = {}, {}
    for name, fn in fns.items():
        sweep = lambda fn=fn: np.asarray(rg.sweep(fn, scale=scales).values)
        rows[name], values[name] = tm.time_fn(sweep, repeats)
    rows["contributions"]["speedup_vs_generic"] = (
        rows["contributions_generic"]["median_s"] / rows["contributions"]["median_s"]
    )
    a, b = values["contributions"], values["contributions_generic"]
    finite = np.isfinite(b)
    same_mask = bool(np.array_equal(finite, np.isfinite(a)))
    diff = float(np.max(np.abs(a[finite] - b[finite]))) if same_mask else float("inf")
    return rows, {"contributions_fast_vs_generic_max_abs_dlog10": diff}


def main(argv: list[str] | None = None) -> dict:
    args = tm.parse(__doc__, argv)
    import rnngrad as rg

    started = time.perf_counter()
    sizes = [(64, 100), (16, 20)] if args.quick else [(1024, 1000), (256, 200)]
    contrib = (4, 20) if args.quick else (64, 100)
    record: dict = {"config": {"hidden": 64, "inputs": 8, "sizes": sizes}, "by_size": {}}
    checks: dict = {}
    targets: dict = {}
    lines = ["lag profile (final_step_profile in rg.sweep) / bare forward scan, tanh H=64 float32"]
    head = f"  {'S':>5} {'T':>5} {'row':<18} {'compile':>10} {'run':>10} {'/forward':>9}"
    lines.append(f"{head} {'cpu /forward':>13}")
    for label, (n_s, length) in zip(("large", "small"), sizes):
        rows, size_checks = size_rows(rg, n_s, length, args.repeats)
        record["by_size"][label] = {"scales": n_s, "length": length, "rows": rows}
        checks.update({f"{label}_{k}": v for k, v in size_checks.items()})
        for name, row in rows.items():
            times = " ".join(tm.fmt_s(row[k]) for k in ("compile_s", "median_s"))
            ratio, cpu = row["ratio_to_forward"], row["cpu_ratio_to_forward"]
            lines.append(f"  {n_s:>5} {length:>5} {name:<18} {times} {ratio:8.2f}x {cpu:12.2f}x")
        targets[f"lag_profile_over_forward_{label}"] = tm.target(
            f"profile / forward at S={n_s}, T={length}",
            "<",
            TARGET_RATIO,
            rows["profile"]["ratio_to_forward"],
        )
    rows, c_checks = contribution_rows(rg, *contrib, args.repeats)
    record["contributions"] = rows
    checks.update(c_checks)
    lines.append(f"T x T contributions under rg.sweep, S={contrib[0]}, T={contrib[1]}:")
    for name, row in rows.items():
        speed = f", {row['speedup_vs_generic']:.2f}x faster" if "speedup_vs_generic" in row else ""
        compile_s, run_s = tm.fmt_s(row["compile_s"]), tm.fmt_s(row["median_s"])
        lines.append(f"  {name:<24} compile {compile_s} run {run_s}{speed}")
    record.update(checks=checks, targets=targets)
    return tm.finish(args, "lag_profile_limit", started, lines, record)


if __name__ == "__main__":
    main()
