"""Speed and accuracy: an echo state network end to end, rnngrad vs reservoirpy (float64).

Command:  python benchmarks/esn_vs_reservoirpy.py [--quick] [--out DIR] [--repeats R]
Runtime:  about 20 min on a 2-core CPU shared with other jobs (the dense path's 16-radius
          grid is most of it); --quick about 1 min, mostly compilation.
Measures: one ESN, 1000 units (quick: 200), connectivity 0.1, spectral radius 1, no leak,
          input scaling 1, ridge 1e-8, driven by 10,000 steps (quick: 500) of
          rg.tasks.mackey_glass − 1 (the same array for both), washout 100, readout
          trained on the first 90 % of the states and scored by the one-step NRMSE on
          the rest. Rows: build (draw + spectral radius), states, ridge readout and their
          total, each as the first call (compile + run) and the median of --repeats
          calls, for rnngrad (row-sparse reservoir, Arnoldi radius), rnngrad's dense path
          (a traced key, as under vmap over seeds: the draw, jnp.linalg.eigvals and the
          product dense, as every reservoir was before the row-sparse format) and
          reservoirpy (scipy CSR, ARPACK radius); the states of one reservoir stored
          row-sparse, dense and as jax.experimental.sparse BCOO; a grid of 16 spectral
          radii (quick: 2, without the dense path's grid) as one jit(vmap) against the
          same reservoirs fitted one by one with reservoirpy. Checks: the row-sparse
          states against the dense ones, the Arnoldi radius against numpy's dense
          eigenvalues, reservoirpy's actual radius, the NRMSE of both. reservoirpy
          (extra ``rnngrad[bench]``) is optional: without it (or with
          RNNGRAD_BENCH_NO_RESERVOIRPY=1) its rows read "reservoirpy: not installed".
Numbers:  printed, and in <out>/esn_vs_reservoirpy.json.
"""

import importlib.util
import os
import time
from collections.abc import Callable

import numpy as np

try:
    import _timing as tm
except ImportError:  # imported as benchmarks.esn_vs_reservoirpy
    from benchmarks import _timing as tm

UNITS, CONNECTIVITY, RADIUS, LEAK, INPUT_SCALING, RIDGE, WASHOUT = (
    1000,
    0.1,
    1.0,
    1.0,
    1.0,
    1e-8,
    100,
)
NO_RESERVOIRPY_ENV = "RNNGRAD_BENCH_NO_RESERVOIRPY"  # hides reservoirpy (tests of the skip path)


def _reservoirpy_fit(series: np.ndarray, units: int, train: int, sr: float, seed: int) -> Callable:
    """reservoirpy's build, states and ridge steps as three thunks sharing one state."""
    from reservoirpy.nodes import Reservoir, Ridge

    state: dict = {}

    def build() -> object:
        state["res"] = Reservoir(
            units,
            lr=LEAK,
            sr=sr,
            input_scaling=INPUT_SCALING,
            rc_connectivity=CONNECTIVITY,
            dtype=np.float64,
            seed=seed,
        )
        state["res"].initialize(series[:1, None])
        return state["res"]

    def states() -> np.ndarray:
        state["states"] = state["res"].run(series[:-1, None])
        return state["states"]

    def ridge() -> object:
        s = state["states"]
        state["readout"] = Ridge(ridge=RIDGE).fit(
            s[WASHOUT:train], series[WASHOUT + 1 : train + 1, None]
        )
        return state["readout"]

    def nrmse() -> float:
        pred = state["readout"].run(state["states"][train:])[:, 0]
        target = series[train + 1 :]
        return float(np.sqrt(np.mean((pred - target) ** 2)) / np.std(target))

    return build, states, ridge, nrmse


def main(argv: list[str] | None = None) -> dict:
    args = tm.parse(__doc__, argv)
    import equinox as eqx
    import jax

    jax.config.update("jax_enable_x64", True)  # the comparison is in float64 (this script only)
    import jax.numpy as jnp
    from jax.experimental import sparse as jsparse

    import rnngrad as rg

    started = time.perf_counter()
    units, steps, n_grid = (200, 500, 2) if args.quick else (UNITS, 10_000, 16)
    train = int(0.9 * steps)
    series = np.asarray(rg.tasks.mackey_glass(steps + 1, dtype=jnp.float64)) - 1.0
    u, key = jnp.asarray(series), jax.random.key(0)
    inputs, targets = u[:-1, None], u[1:]
    options = dict(
        spectral_radius=RADIUS,
        leak_rate=LEAK,
        input_scaling=INPUT_SCALING,
        connectivity=CONNECTIVITY,
    )
    hidden = os.environ.get(NO_RESERVOIRPY_ENV)
    has_rpy = not hidden and importlib.util.find_spec("reservoirpy") is not None
    not_installed = "reservoirpy: not installed" + (
        f" (hidden by {NO_RESERVOIRPY_ENV})" if hidden else ""
    )
    rows, checks = {}, {}

    def timed(name: str, fn, repeats: int = args.repeats) -> object:  # noqa: ANN001
        rows[name], value = tm.time_fn(lambda: jax.block_until_ready(fn()), repeats)
        return value

    # rnngrad: the cell is built eagerly (concrete key); the old path traces the key.
    new_cell = timed("rnngrad_build", lambda: rg.EchoStateCell(1, units, key=key, **options))
    traced_build = jax.jit(lambda k: rg.EchoStateCell(1, units, key=k, **options))
    old_cell = timed("previous_build", lambda: traced_build(key))
    new_states = timed("rnngrad_states", lambda: rg.esn.states(new_cell, inputs))
    old_states = timed("previous_states", lambda: rg.esn.states(old_cell, inputs))
    fit = lambda s: rg.esn.ridge_readout(s[WASHOUT:train], targets[WASHOUT:train], ridge=RIDGE)
    readout = timed("rnngrad_ridge", lambda: fit(new_states))
    timed("previous_ridge", lambda: fit(old_states))
    pred = rg.esn.readout_apply(readout, new_states[train:])
    checks["rnngrad_nrmse"] = float(rg.esn.nrmse(pred, targets[train:]))
    checks["row_sparse_vs_dense_states_max_abs"] = float(jnp.max(jnp.abs(new_states - old_states)))
    w_dense = np.asarray(new_cell.weight_hh)
    checks["rnngrad_radius_error"] = abs(float(np.max(np.abs(np.linalg.eigvals(w_dense)))) - RADIUS)

    # The storage formats of one reservoir, same states program (rg.esn.states).
    class Bcoo(eqx.Module):
        matrix: jsparse.BCOO

        def matvec(self, h):  # noqa: ANN001, ANN202
            return self.matrix @ h

        def todense(self):  # noqa: ANN202
            return self.matrix.todense()

    dense_cell = rg.EchoStateCell(1, units, key=key, storage="dense", **options)
    sparse_cell = rg.EchoStateCell(1, units, key=key, storage="sparse", **options)
    bcoo = Bcoo(jsparse.BCOO.fromdense(dense_cell.reservoir.matrix))
    bcoo_cell = eqx.tree_at(lambda c: c.reservoir, dense_cell, bcoo)
    for name, cell in (("row_sparse", sparse_cell), ("dense", dense_cell), ("bcoo", bcoo_cell)):
        timed(f"states_{name}", lambda cell=cell: rg.esn.states(cell, inputs))

    # reservoirpy, the same hyperparameters and series.
    rpy_names = ("reservoirpy_build", "reservoirpy_states", "reservoirpy_ridge")
    if has_rpy:
        build, run, ridge, score = _reservoirpy_fit(series, units, train, RADIUS, seed=0)
        for name, fn in zip(rpy_names, (build, run, ridge)):
            timed(name, fn)
        checks["reservoirpy_nrmse"] = score()
        w_rpy = build().W
        w_rpy = w_rpy.toarray() if hasattr(w_rpy, "toarray") else np.asarray(w_rpy)
        actual = float(np.max(np.abs(np.linalg.eigvals(w_rpy))))
        checks["reservoirpy_radius_error"] = abs(actual - RADIUS)
    else:
        rows.update({name: {"skipped": not_installed} for name in rpy_names})

    def total(prefix: str) -> dict:
        parts = [rows[f"{prefix}_{p}"] for p in ("build", "states", "ridge")]
        if any("skipped" in p for p in parts):
            return {"skipped": not_installed}
        return {k: sum(p[k] for p in parts) for k in ("median_s", "min_s", "first_s", "compile_s")}

    for prefix in ("rnngrad", "previous", "reservoirpy"):
        rows[f"{prefix}_total"] = total(prefix)

    # A grid of spectral radii: one jit(vmap) program (the base shared) vs reservoirpy fits.
    radii = np.linspace(0.5, 1.4, n_grid)

    def grid_point(rho, k):  # noqa: ANN001, ANN202
        cell = rg.EchoStateCell(1, units, key=k, **{**options, "spectral_radius": rho})
        s = rg.esn.states(cell, inputs)
        w = fit(s)
        return rg.esn.nrmse(rg.esn.readout_apply(w, s[train:]), targets[train:])

    grid = jax.jit(jax.vmap(lambda rho: grid_point(rho, key)))  # key concrete: base shared
    grid_scores = timed("rnngrad_grid", lambda: grid(jnp.asarray(radii)), 1)
    if args.quick:  # its compilation is most of a quick run's time
        rows["previous_grid"] = {"skipped": "full sizes only"}
    else:
        traced_grid = jax.jit(jax.vmap(grid_point, (0, None)))  # key traced: the dense path
        timed("previous_grid", lambda: traced_grid(jnp.asarray(radii), key), 1)
    checks["grid_nrmse_best"] = float(jnp.min(grid_scores))
    if has_rpy:

        def rpy_grid() -> list:
            out = []
            for rho in radii:
                build, run, ridge, score = _reservoirpy_fit(series, units, train, float(rho), 0)
                build(), run(), ridge()
                out.append(score())
            return out

        rpy_scores = timed("reservoirpy_grid", rpy_grid, 1)
        checks["reservoirpy_grid_nrmse_best"] = float(np.min(rpy_scores))
    else:
        rows["reservoirpy_grid"] = {"skipped": not_installed}

    lines = [
        f"ESN end to end: {units} units, connectivity {CONNECTIVITY}, radius {RADIUS}, leak "
        f"{LEAK}, {steps} steps of Mackey-Glass, ridge {RIDGE}, float64",
    ]
    labels = {
        "rnngrad_total": "rnngrad (row-sparse, Arnoldi)",
        "previous_total": "rnngrad dense path (traced key)",
        "reservoirpy_total": "reservoirpy (CSR, ARPACK)",
    }
    table, targets_ = tm.compare(
        rows, labels, "ESN end to end", {"esn_vs_reservoirpy": ("reservoirpy_total", 2.0)}
    )
    lines += table
    lines.append("  split (median, first call) [build | states | ridge]:")
    for prefix, label in (
        ("rnngrad", "rnngrad"),
        ("previous", "dense path"),
        ("reservoirpy", "reservoirpy"),
    ):
        parts = [rows[f"{prefix}_{p}"] for p in ("build", "states", "ridge")]
        if any("skipped" in p for p in parts):
            lines.append(f"    {label:<12} {not_installed}")
            continue
        cells = " | ".join(f"{tm.fmt_s(p['median_s'])} ({tm.fmt_s(p['first_s'])})" for p in parts)
        lines.append(f"    {label:<12} {cells}")
    storage, _ = tm.compare(
        rows,
        {
            "states_row_sparse": "states: row-sparse (ELL)",
            "states_dense": "states: dense",
            "states_bcoo": "states: BCOO",
        },
        "states",
        {},
    )
    lines += storage
    grid_labels = {
        "rnngrad_grid": f"{n_grid} radii: rnngrad jit(vmap)",
        "previous_grid": f"{n_grid} radii: rnngrad dense path (traced key)",
        "reservoirpy_grid": f"{n_grid} radii: reservoirpy, one by one",
    }
    table, grid_targets = tm.compare(
        rows, grid_labels, "ESN grid", {"esn_grid_vs_reservoirpy": ("reservoirpy_grid", 10.0)}
    )
    lines += table
    record = {"rows": rows, "checks": checks, "targets": {**targets_, **grid_targets}}
    record["sizes"] = dict(
        units=units, steps=steps, train=train, washout=WASHOUT, grid=radii.tolist()
    )
    return tm.finish(args, "esn_vs_reservoirpy", started, lines, record)


if __name__ == "__main__":
    main()
