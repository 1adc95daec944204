"""Training a cell + linear readout on a task, vmapped over seeds, with optax remedies.

One compiled program trains every seed at once: ``jax.vmap`` over seeds of a
``lax.scan`` over steps, run in chunks (one call of the same compiled function per
chunk) with a tqdm bar between chunks and an atomic checkpoint at every chunk boundary.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, Bool, Float, Int, PRNGKeyArray, PyTree

from ._cells import fold_recurrent_scale, zero_carry
from ._checks import check_positive_int, check_real_scalar, describe
from ._io import atomic_write
from ._tasks import AbstractTask

# --------------------------------------------------------------------------- model


def readout_features(carry: PyTree) -> Array:
    """What the linear readout sees: ``h`` of an LSTM's ``(h, c)``, else the carry itself."""
    if isinstance(carry, (tuple, list)):
        return carry[0]
    return carry


class RNNModel(eqx.Module):
    """A recurrent cell followed by a linear readout of its hidden state.

    **Arguments:** `cell` (any rnngrad or equinox cell with ``hidden_size``), `out_size`,
    `key`. The readout is ``eqx.nn.Linear(hidden_size, out_size)``.
    """

    cell: Any
    readout: eqx.nn.Linear

    def __init__(self, cell: Any, out_size: int, *, key: PRNGKeyArray):
        self.cell = cell
        features = readout_features(zero_carry(cell))
        dtype = features.dtype
        self.readout = eqx.nn.Linear(features.shape[0], out_size, key=key, dtype=dtype)

    def carries(self, xs: Array, carry0: PyTree | None = None) -> PyTree:
        """All carries (T, ...) of the cell on `xs` (T, input_size)."""
        carry0 = zero_carry(self.cell) if carry0 is None else carry0

        def step(c, x):
            new = self.cell(x, c)
            return new, new

        return jax.lax.scan(step, carry0, xs)[1]

    def predict(self, xs: Array, readout: str = "last") -> Array:
        """Predictions: (out,) from the final step, or (T, out) for ``readout="every"``."""
        feats = readout_features(self.carries(xs))
        if readout == "last":
            return self.readout(feats[-1])
        return jax.vmap(self.readout)(feats)


def _step_targets(task: AbstractTask, y: PyTree) -> PyTree:
    """Per-step targets for the per-step loss of one example (leading axis T)."""
    t = jnp.arange(task.length)
    if task.readout == "last":
        return (
            t,
            jax.tree_util.tree_map(lambda a: jnp.broadcast_to(a, (task.length, *a.shape)), y),
        )
    weights = y.mask.astype(jnp.result_type(float))
    return (t, (y.labels, weights / jnp.sum(weights)))


def make_step_loss(task: AbstractTask, readout: eqx.nn.Linear) -> Callable[[PyTree, Any], Array]:
    """``step_loss(carry_t, target_t)`` whose sum over t is ``task.loss`` of one example.

    For ``readout="last"`` tasks only the final step carries loss; for per-step tasks
    (copy) each step carries its masked share of the mean cross-entropy. The targets come
    from :func:`step_targets`.
    """
    last = task.length - 1

    def step_loss(carry: PyTree, target: Any) -> Array:
        t, y = target
        pred = readout(readout_features(carry))
        if task.readout == "last":
            value = task.loss(pred, y)
            return jnp.where(t == last, value, jnp.zeros_like(value))
        label, weight = y
        ce = optax.softmax_cross_entropy_with_integer_labels(pred, label)
        return weight.astype(ce.dtype) * ce

    return step_loss


def step_targets(task: AbstractTask, y: PyTree) -> PyTree:
    """Per-step targets for :func:`make_step_loss` (a pytree with leading axis T)."""
    return _step_targets(task, y)


# --------------------------------------------------------------------------- truncation


def truncated_loss(
    cell: Any,
    xs: Array,
    carry0: PyTree,
    step_loss: Callable[[PyTree, Any], Array],
    ys: PyTree,
    *,
    k1: int,
    k2: int,
) -> Array:
    """Σ_t L_t computed so that its gradient is truncated BPTT(k2; k1).

    Williams & Peng (1990)'s BPTT(h; h'): every `k1` steps (at τ = k1-1, 2k1-1, ...,
    and at the last step) the losses of the last `k1` steps are backpropagated `k2`
    steps, to s_{τ-k2+1}. So L_t reaches s_k only if ``t - k < k2 - (τ - t)``; with
    ``k1 = 1`` this is ``t - k < k2``, and ``k1 = k2`` is the usual chunked TBPTT. The
    forward pass runs on unbroken: every window restarts from the true (stop-gradient)
    state. The value equals the full loss; only the gradient is truncated.

    Each window of `k2` steps is recomputed from its stored start state (cost
    O(T · k2 / k1)); windows are ``vmap``-ed, so this is one batched program.

    **Raises:** ``ValueError`` for k2 outside [1, T] or k1 outside [1, k2].

    Reference: R. J. Williams & J. Peng, "An efficient gradient-based algorithm for
    on-line training of recurrent network trajectories", Neural Computation 2 (1990).
    """
    length = xs.shape[0]
    k2 = check_positive_int("k2", k2)
    k1 = check_positive_int("k1", k1)
    if k2 > length:
        raise ValueError(f"`k2` must be <= T = {length} (steps to backpropagate), got {k2}.")
    if k1 > k2:
        raise ValueError(
            f"`k1` must be <= k2 = {k2} (each loss must reach its own step), got {k1}."
        )
    s0, unravel = jax.flatten_util.ravel_pytree(carry0)

    def flat_step(s, x):
        return jax.flatten_util.ravel_pytree(cell(x, unravel(s)))[0]

    def forward(s, x):
        new = flat_step(s, x)
        return new, s

    _, prev = jax.lax.scan(forward, s0, xs)  # prev[t] = s_{t-1}
    prev = jax.lax.stop_gradient(prev)
    n_windows = -(-length // k1)
    ends = np.minimum(np.arange(n_windows) * k1 + k1 - 1, length - 1)
    starts = ends - k2 + 1
    idx = starts[:, None] + np.arange(k2)[None, :]  # (W, k2), may be negative: padding
    valid = idx >= 0
    loss_lo = np.arange(n_windows) * k1
    counted = (idx >= loss_lo[:, None]) & (idx <= ends[:, None])
    safe = np.clip(idx, 0, None)
    x_win = xs[safe]
    y_win = jax.tree_util.tree_map(lambda a: a[safe], ys)
    first_valid = np.clip(starts, 0, None)
    start_state = jnp.where((starts > 0)[:, None], prev[first_valid], s0)

    def window(s, x_w, y_w, v_w, c_w):
        def step(s, inp):
            x, y, v, c = inp
            new = jnp.where(v, flat_step(s, x), s)
            value = step_loss(unravel(new), y)
            return new, jnp.where(c, value, jnp.zeros_like(value))

        _, values = jax.lax.scan(step, s, (x_w, y_w, v_w, c_w))
        return jnp.sum(values)

    return jnp.sum(
        jax.vmap(window)(start_state, x_win, y_win, jnp.asarray(valid), jnp.asarray(counted))
    )


def full_loss(
    cell: Any,
    xs: Array,
    carry0: PyTree,
    step_loss: Callable,
    ys: PyTree,
    *,
    checkpoint: bool = False,
) -> Array:
    """Σ_t step_loss(carry_t, ys[t]) with full backpropagation through time."""

    def step(c, inp):
        x, y = inp
        new = cell(x, c)
        return new, step_loss(new, y)

    if checkpoint:
        step = jax.checkpoint(step)
    return jnp.sum(jax.lax.scan(step, carry0, (xs, ys))[1])


# --------------------------------------------------------------------------- results


def wilson_interval(
    successes: int, trials: int, *, z: float = 1.959963984540054
) -> tuple[float, float]:
    """The Wilson score 95 % interval for a binomial proportion (Wilson 1927)."""
    if trials <= 0:
        return (0.0, 1.0)
    p = successes / trials
    denom = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denom
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


class TrainResult(eqx.Module):
    """What :func:`train` returns; per-seed arrays have a leading seed axis (n_seeds, ...).

    - ``model``: the trained :class:`RNNModel`s, batched over seeds.
    - ``losses``: (n_seeds, steps) training loss (batch mean) at every step.
    - ``grad_norms``: (n_seeds, steps) global gradient norm *before* clipping.
    - ``skipped``: (n_seeds,) updates skipped as non-finite (``optax.apply_if_finite``).
    - ``first_divergent_step``: (n_seeds,) first step whose loss or gradient was
      non-finite, -1 if none.
    - ``test_loss``, ``test_error_rate``: (n_seeds,) on fresh test samples.
    - ``solved``: (n_seeds,) bool, the task's success criterion on the test samples.
    """

    model: Any
    losses: Float[Array, "seeds steps"]
    grad_norms: Float[Array, "seeds steps"]
    skipped: Int[Array, " seeds"]
    first_divergent_step: Int[Array, " seeds"]
    test_loss: Float[Array, " seeds"]
    test_error_rate: Float[Array, " seeds"]
    solved: Bool[Array, " seeds"]

    @property
    def success_rate(self) -> float:
        """Fraction of seeds that solved the task."""
        return float(np.mean(np.asarray(self.solved)))

    @property
    def success_interval(self) -> tuple[float, float]:
        """Wilson 95 % interval of the success rate over seeds."""
        solved = np.asarray(self.solved)
        return wilson_interval(int(solved.sum()), int(solved.size))

    def summary(self) -> dict[str, Any]:
        """Plain-number summary: success rate and interval, losses, divergence."""
        lo, hi = self.success_interval
        return {
            "seeds": int(np.asarray(self.solved).size),
            "success_rate": self.success_rate,
            "success_95ci": [lo, hi],
            "test_loss_median": float(np.nanmedian(np.asarray(self.test_loss))),
            "test_error_rate_median": float(np.nanmedian(np.asarray(self.test_error_rate))),
            "diverged_seeds": int(np.sum(np.asarray(self.first_divergent_step) >= 0)),
            "skipped_updates": [int(v) for v in np.asarray(self.skipped)],
        }


# --------------------------------------------------------------------------- training


class _State(eqx.Module):
    model: Any
    opt_state: Any
    first_bad: Int[Array, ""]


def _count_skips(opt_state: Any, seeds: int) -> Array:
    """Updates skipped by ``optax.apply_if_finite`` per seed (0 if it is not used)."""
    total = jnp.zeros((seeds,), jnp.int32)
    leaves = jax.tree_util.tree_leaves(
        opt_state, is_leaf=lambda x: isinstance(x, optax.ApplyIfFiniteState)
    )
    for leaf in leaves:
        if isinstance(leaf, optax.ApplyIfFiniteState):
            total = total + jnp.asarray(leaf.total_notfinite).astype(jnp.int32)
    return total


def _fingerprint(tree: Any) -> str:
    digest = hashlib.sha256()
    for leaf in jax.tree_util.tree_leaves(tree):
        arr = np.asarray(leaf)
        digest.update(str(arr.dtype).encode())
        digest.update(str(arr.shape).encode())
        digest.update(arr.tobytes())
    return digest.hexdigest()[:16]


def train(
    make_cell: Callable[[PRNGKeyArray], Any],
    task: AbstractTask,
    *,
    optimizer: optax.GradientTransformation,
    steps: int,
    batch_size: int,
    key: PRNGKeyArray,
    seeds: int = 1,
    tbptt: tuple[int, int] | None = None,
    omega: float = 0.0,
    flossing: float = 0.0,
    flossing_n: int = 1,
    flossing_target: float = 0.0,
    chunk_steps: int | None = None,
    test_size: int = 10_000,
    checkpoint_dir: str | os.PathLike | None = None,
    progress: bool | None = None,
    on_chunk: Callable[[int, dict[str, np.ndarray]], None] | None = None,
) -> TrainResult:
    """Train a cell + linear readout on `task` for every seed at once.

    Each seed ``i`` gets ``k = jax.random.fold_in(key, i)``, split into the cell's init
    key, the readout's, the data stream (batch n uses ``fold_in(k_data, n)``) and the
    test set. All seeds run in one ``jit(vmap(lax.scan(step)))`` program.

    **Arguments:**

    - `make_cell`: ``key -> cell`` (e.g. ``lambda k: rg.VanillaCell(2, 64, key=k)``).
      A scale from ``rg.scale_recurrent`` is folded into ``weight_hh`` before training.
    - `task`: an ``rg.AbstractTask`` (``rg.make_task("adding", 100)``).
    - `optimizer`: an optax ``GradientTransformation``. Clipping and skipping are optax
      transforms composed with ``optax.chain`` (see :func:`rnngrad.clipped`), e.g.
      ``optax.chain(optax.clip_by_global_norm(1.0), optax.adam(1e-3))``.
    - `steps`, `batch_size`: positive ints. `key`: a ``jax.random`` key. `seeds`: how many.
    - `tbptt`: ``(k1, k2)`` for truncated BPTT (:func:`truncated_loss`), else full BPTT.
    - `omega`: weight of Pascanu's Ω regulariser (``rg.pascanu_omega``), 0 = off.
    - `flossing`: weight of the gradient-flossing penalty (``rg.flossing_penalty`` on the
      first example of each batch, `flossing_n` exponents pulled to `flossing_target`).
    - `chunk_steps`: steps per compiled chunk (progress and checkpoints between chunks;
      default: all steps in one chunk, or ~20 chunks when checkpointing).
    - `test_size`: fresh test samples per seed for the final metrics (Pascanu: 10,000).
    - `checkpoint_dir`: save the state atomically at every chunk boundary
      (``eqx.tree_serialise_leaves``) and resume from it: a killed run restarted with
      the same arguments ends bitwise equal to an uninterrupted one.
    - `progress`: tqdm bar over chunks (default: when there are several chunks).
    - `on_chunk`: called after every chunk (and its checkpoint) as
      ``on_chunk(steps_done, {"losses": ..., "grad_norms": ...})`` with the (n_seeds,
      steps) records so far (NaN where not yet run): for logging or early inspection.

    **Returns:** :class:`TrainResult`.

    **Raises:** ``ValueError`` for non-positive `steps`/`batch_size`/`seeds`, bad `tbptt`,
    a negative penalty weight, or a `checkpoint_dir` holding a run with other arguments
    (the message names the argument that differs); ``TypeError`` for a non-optax
    `optimizer` or a `task` that is not an ``rg.AbstractTask``.

    Reference: Pascanu, Mikolov & Bengio, ICML 2013 (clipping, Ω, the tasks' protocol).
    """
    if not isinstance(task, AbstractTask):
        raise TypeError(f"`task` must be an rnngrad task (rg.make_task), got {describe(task)}.")
    if not isinstance(optimizer, optax.GradientTransformation):
        raise TypeError(
            f"`optimizer` must be an optax GradientTransformation, got {describe(optimizer)}."
        )
    steps = check_positive_int("steps", steps)
    batch_size = check_positive_int("batch_size", batch_size)
    seeds = check_positive_int("seeds", seeds)
    test_size = check_positive_int("test_size", test_size)
    check_real_scalar("omega", omega, nonnegative=True)
    check_real_scalar("flossing", flossing, nonnegative=True)
    check_real_scalar("flossing_target", flossing_target)
    if tbptt is not None:
        if not (isinstance(tbptt, tuple) and len(tbptt) == 2):
            raise TypeError(f"`tbptt` must be a (k1, k2) tuple or None, got {describe(tbptt)}.")
        k1, k2 = (
            check_positive_int("tbptt k1", tbptt[0]),
            check_positive_int("tbptt k2", tbptt[1]),
        )
        if k2 > task.length:
            raise ValueError(f"`tbptt` k2 must be <= T = {task.length}, got {k2}.")
        if k1 > k2:
            raise ValueError(f"`tbptt` k1 must be <= k2 = {k2}, got {k1}.")
    if chunk_steps is None:
        chunk_steps = steps if checkpoint_dir is None else max(1, steps // 20)
    chunk_steps = check_positive_int("chunk_steps", chunk_steps)
    if steps % chunk_steps:
        raise ValueError(f"`chunk_steps` must divide steps = {steps}, got {chunk_steps}.")
    n_chunks = steps // chunk_steps

    if omega or flossing:
        from . import _penalties  # the penalties module is optional at import time

    def init_one(seed_key: PRNGKeyArray) -> tuple[_State, PRNGKeyArray, PRNGKeyArray]:
        k_cell, k_read, k_data, k_test = jax.random.split(seed_key, 4)
        cell = fold_recurrent_scale(make_cell(k_cell))
        model = RNNModel(cell, task.output_size, key=k_read)
        params = eqx.filter(model, eqx.is_inexact_array)
        state = _State(model, optimizer.init(params), jnp.asarray(-1, jnp.int32))
        return state, k_data, k_test

    def example_loss(model: RNNModel, xs: Array, y: PyTree) -> Array:
        carry0 = zero_carry(model.cell)
        step_loss = make_step_loss(task, model.readout)
        ys = step_targets(task, y)
        if tbptt is None:
            value = full_loss(model.cell, xs, carry0, step_loss, ys)
        else:
            value = truncated_loss(model.cell, xs, carry0, step_loss, ys, k1=tbptt[0], k2=tbptt[1])
        if omega:
            value = value + omega * _penalties.pascanu_omega(model.cell, xs, carry0, step_loss, ys)
        return value

    def batch_loss(model: RNNModel, xs: Array, ys: PyTree) -> Array:
        value = jnp.mean(jax.vmap(lambda x, y: example_loss(model, x, y))(xs, ys))
        if flossing:
            value = value + flossing * _penalties.flossing_penalty(
                model.cell, xs[0], zero_carry(model.cell), n=flossing_n, target=flossing_target
            )
        return value

    def train_step(carry, step_index):
        state, k_data = carry
        xs, ys = task.batch(jax.random.fold_in(k_data, step_index), batch_size)
        params, static = eqx.partition(state.model, eqx.is_inexact_array)
        loss, grads = jax.value_and_grad(lambda p: batch_loss(eqx.combine(p, static), xs, ys))(
            params
        )
        norm = optax.tree.norm(grads)
        updates, opt_state = optimizer.update(grads, state.opt_state, params)
        params = optax.apply_updates(params, updates)
        bad = ~(jnp.isfinite(loss) & jnp.isfinite(norm))
        first_bad = jnp.where(
            (state.first_bad < 0) & bad, step_index.astype(jnp.int32), state.first_bad
        )
        new_state = _State(eqx.combine(params, static), opt_state, first_bad)
        return (new_state, k_data), (loss, norm)

    def run_chunk(state: _State, k_data: PRNGKeyArray, start: Array):
        (state, _), (losses, norms) = jax.lax.scan(
            train_step, (state, k_data), start + jnp.arange(chunk_steps)
        )
        return state, losses, norms

    seed_keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.arange(seeds))
    states, k_datas, k_tests = eqx.filter_vmap(init_one)(seed_keys)
    run = eqx.filter_jit(eqx.filter_vmap(run_chunk, in_axes=(0, 0, None)))

    losses = np.full((seeds, steps), np.nan)
    norms = np.full((seeds, steps), np.nan)
    done = 0
    ckpt = None
    if checkpoint_dir is not None:
        ckpt = Path(checkpoint_dir)
        ckpt.mkdir(parents=True, exist_ok=True)
        args = {
            "task": repr(task),
            "steps": steps,
            "batch_size": batch_size,
            "seeds": seeds,
            "key": np.asarray(jax.random.key_data(key)).tolist(),
            "tbptt": list(tbptt) if tbptt is not None else None,
            "omega": float(omega),
            "flossing": [float(flossing), int(flossing_n), float(flossing_target)],
            "chunk_steps": chunk_steps,
            "initial_model": _fingerprint(eqx.filter(states.model, eqx.is_inexact_array)),
            "optimizer_state": str(jax.tree_util.tree_structure(states.opt_state)),
        }
        run_file = ckpt / "run.json"
        if run_file.exists():
            saved = json.loads(run_file.read_text())
            for name, value in args.items():
                if saved.get(name) != json.loads(json.dumps(value)):
                    raise ValueError(
                        f"`checkpoint_dir` {str(ckpt)!r} holds a run with other arguments: "
                        f"`{name}` was {saved.get(name)!r}, now {value!r}. Use a new folder."
                    )
            state_file = ckpt / "state.eqx"
            if state_file.exists():
                template = (states, losses, norms, np.zeros((), np.int64))
                with open(state_file, "rb") as f:
                    states, losses, norms, done_arr = eqx.tree_deserialise_leaves(f, template)
                losses, norms, done = np.array(losses), np.array(norms), int(done_arr)
        else:
            atomic_write(run_file, lambda f: f.write(json.dumps(args, indent=1)), mode="w")

    show = n_chunks > 1 if progress is None else progress
    chunk_ids = range(done // chunk_steps, n_chunks)
    if show:
        from tqdm.auto import tqdm

        chunk_ids = tqdm(
            chunk_ids,
            desc=f"train {task.name}",
            unit="chunk",
            total=n_chunks,
            initial=done // chunk_steps,
        )
    for c in chunk_ids:
        start = c * chunk_steps
        states, chunk_losses, chunk_norms = run(states, k_datas, jnp.asarray(start))
        losses[:, start : start + chunk_steps] = np.asarray(chunk_losses)
        norms[:, start : start + chunk_steps] = np.asarray(chunk_norms)
        done = start + chunk_steps
        if ckpt is not None:
            # One file holds the state and the records, so they can never disagree.
            snapshot = (states, losses, norms, np.asarray(done, np.int64))
            atomic_write(
                ckpt / "state.eqx",
                lambda f, snap=snapshot: eqx.tree_serialise_leaves(f, snap),
            )
        if on_chunk is not None:
            on_chunk(done, {"losses": losses.copy(), "grad_norms": norms.copy()})

    def evaluate(model: RNNModel, k_test: PRNGKeyArray):
        xs, ys = task.batch(k_test, test_size)
        preds = jax.vmap(lambda x: model.predict(x, task.readout))(xs)
        loss = jnp.mean(jax.vmap(task.loss)(preds, ys))
        return loss, task.error_rate(preds, ys), task.solved(preds, ys)

    test_loss, test_err, solved = eqx.filter_jit(eqx.filter_vmap(evaluate))(states.model, k_tests)
    return TrainResult(
        model=states.model,
        losses=jnp.asarray(losses),
        grad_norms=jnp.asarray(norms),
        skipped=_count_skips(states.opt_state, seeds),
        first_divergent_step=states.first_bad,
        test_loss=test_loss,
        test_error_rate=test_err,
        solved=solved,
    )


def clipped(
    optimizer: optax.GradientTransformation,
    *,
    global_norm: float | None = None,
    value: float | None = None,
    adaptive: float | None = None,
    skip_nonfinite: int | None = None,
) -> optax.GradientTransformation:
    """``optax.chain`` of the chosen clipping transforms before `optimizer`.

    - `global_norm`: ``optax.clip_by_global_norm`` (Pascanu et al. 2013's rescaling).
    - `value`: ``optax.clip`` (element-wise, Mikolov 2012).
    - `adaptive`: ``optax.adaptive_grad_clip`` (Brock et al. 2021, unit-wise ratio).
    - `skip_nonfinite`: wrap everything in ``optax.apply_if_finite`` with this many
      consecutive non-finite steps tolerated; skipped updates are counted in
      ``TrainResult.skipped``.

    **Raises:** ``ValueError`` for a threshold <= 0 or non-finite.
    """
    chain = []
    if global_norm is not None:
        check_real_scalar("global_norm", global_norm, positive=True)
        chain.append(optax.clip_by_global_norm(global_norm))
    if value is not None:
        check_real_scalar("value", value, positive=True)
        chain.append(optax.clip(value))
    if adaptive is not None:
        check_real_scalar("adaptive", adaptive, positive=True)
        chain.append(optax.adaptive_grad_clip(adaptive))
    chain.append(optimizer)
    out = optax.chain(*chain) if len(chain) > 1 else optimizer
    if skip_nonfinite is not None:
        out = optax.apply_if_finite(out, check_positive_int("skip_nonfinite", skip_nonfinite))
    return out
