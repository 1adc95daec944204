"""The training loop: every seed at once in one ``jit(vmap(lax.scan(step)))`` program."""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, Int, PRNGKeyArray, PyTree

from .._checks import (
    Checked,
    NumericalWarning,
    check_callable,
    check_key,
    check_path,
    check_positive_int,
    describe,
)
from .._tasks import AbstractTask
from ..cells import check_cell, fold_recurrent_scale, init_carry
from ._checkpoint import Checkpoint, fingerprint
from ._model import RNNModel, step_loss_of, step_targets_of
from ._objectives import BPTT, AbstractObjective
from ._penalties import AbstractPenalty
from ._result import TrainResult, train_keys

__all__ = ["train"]

_REPLACED = {
    "tbptt": "objective=rg.TruncatedBPTT(k1, k2)",
    "omega": "penalties=(rg.Omega(strength),)",
    "flossing": "penalties=(rg.Flossing(strength, n=..., target=...),)",
    "flossing_n": "penalties=(rg.Flossing(strength, n=...),)",
    "flossing_target": "penalties=(rg.Flossing(strength, target=...),)",
}


_FULL_BPTT = BPTT()


class _State(eqx.Module):
    model: Any
    opt_state: Any
    first_bad: Int[Array, "*seeds"]


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


def _check_parts(
    task: Any, optimizer: Any, objective: Any, penalties: Any
) -> tuple[AbstractPenalty, ...]:
    if not isinstance(task, AbstractTask):
        raise TypeError(f"`task` must be an rnngrad task (rg.make_task), got {describe(task)}.")
    if not isinstance(optimizer, optax.GradientTransformation):
        raise TypeError(
            f"`optimizer` must be an optax GradientTransformation, got {describe(optimizer)}."
        )
    if not isinstance(objective, AbstractObjective):
        raise TypeError(
            "`objective` must be an rnngrad objective (rg.BPTT() or rg.TruncatedBPTT(k1, k2)),"
            f" got {describe(objective)}."
        )
    objective.check(task)
    if isinstance(penalties, AbstractPenalty):
        penalties = (penalties,)
    if not isinstance(penalties, Sequence) or not all(
        isinstance(p, AbstractPenalty) for p in penalties
    ):
        raise TypeError(
            "`penalties` must be a tuple of rnngrad penalties (rg.Omega(strength), "
            f"rg.Flossing(strength)), got {describe(penalties)}."
        )
    return tuple(penalties)


def _check_make_cell(make_cell: Callable, key: Any, task: AbstractTask) -> None:
    """`make_cell(key)` must return a cell (checked abstractly, nothing is computed)."""
    try:
        cell = eqx.filter_eval_shape(make_cell, key)
    except Exception as err:  # noqa: BLE001 - the user's function failed: say where
        raise TypeError(
            f"train: `make_cell` must be a function key -> cell; calling it on a key failed "
            f"with {type(err).__name__}: {err}"
        ) from err
    check_cell(cell, name="make_cell(key)")
    input_size = getattr(cell, "input_size", None)
    if isinstance(input_size, int) and input_size != task.input_size:
        raise ValueError(
            f"train: `make_cell` builds a cell with input_size {input_size}, but the task "
            f"{task.name!r} gives {task.input_size} inputs per step: build it with "
            f"input_size={task.input_size} (task.input_size)."
        )


def train(
    make_cell: Checked[Callable[[PRNGKeyArray], Any]],
    task: Checked[AbstractTask],
    *,
    optimizer: Checked[optax.GradientTransformation],
    steps: Checked[int],
    batch_size: Checked[int],
    key: Checked[PRNGKeyArray],
    seeds: Checked[int] = 1,
    objective: Checked[AbstractObjective] = _FULL_BPTT,
    penalties: Checked[Sequence[AbstractPenalty]] = (),
    chunk_steps: Checked[int | None] = None,
    test_size: Checked[int] = 10_000,
    checkpoint_dir: Checked[str | os.PathLike | None] = None,
    progress: Checked[bool | None] = None,
    on_chunk: Checked[Callable[[int, dict[str, np.ndarray]], None] | None] = None,
    **removed: Any,
) -> TrainResult:
    """Train a cell + linear readout on `task` for every seed at once.

    Seed ``i`` draws its cell, readout, data stream and test set from
    :func:`rnngrad.train_keys` ``(key, i)`` (batch n uses ``fold_in(keys.data, n)``).
    All seeds run in one ``jit(vmap(lax.scan(step)))`` program. The loss of a batch is
    the mean over examples of ``objective.loss`` (the task's loss, summed over steps)
    plus every penalty.

    **Arguments:**

    - `make_cell`: ``key -> cell``, any cell following the protocol (e.g.
      ``lambda k: rg.VanillaCell(2, 64, key=k)``). A scale from ``rg.scale_recurrent``
      is folded into the weights before training.
    - `task`: an ``rg.AbstractTask`` (``rg.make_task("adding", 100)``).
    - `optimizer`: an optax ``GradientTransformation``. Clipping and skipping are optax
      transforms composed with ``optax.chain`` (see :func:`rnngrad.clipped`).
    - `steps`, `batch_size`: positive ints. `key`: a ``jax.random`` key. `seeds`: how many.
    - `objective`: :class:`rnngrad.BPTT` (default) or :class:`rnngrad.TruncatedBPTT`.
    - `penalties`: a tuple of penalties, e.g. ``(rg.Omega(2.0),)`` or
      ``(rg.Flossing(0.1, n=4),)``.
    - `chunk_steps`: steps per compiled chunk (progress and checkpoints between chunks;
      default: all steps in one chunk, or ~20 chunks when checkpointing).
    - `test_size`: fresh test samples per seed for the final metrics (Pascanu: 10,000).
    - `checkpoint_dir`: save the state atomically at every chunk boundary and resume
      from it: a killed run restarted with the same arguments ends bitwise equal to an
      uninterrupted one.
    - `progress`: tqdm bar over chunks (default: when there are several chunks).
    - `on_chunk`: called after every chunk (and its checkpoint) as
      ``on_chunk(steps_done, {"losses": ..., "grad_norms": ...})`` with the (seeds,
      steps) records so far (NaN where not yet run).

    **Returns:** :class:`rnngrad.TrainResult`.

    **Raises:** ``ValueError`` for non-positive `steps`/`batch_size`/`seeds`, an
    objective that does not fit the task (``TruncatedBPTT`` with k2 > T), or a
    `checkpoint_dir` holding a run with other arguments or an older format (the message
    names what differs), an existing file as `checkpoint_dir`, or a corrupted
    ``run.json``/``state.eqx`` in it (named, with the fix: delete it or choose another
    folder); ``TypeError`` for a non-optax `optimizer`, a non-task, a bad
    `objective`/`penalties`, a cell without the protocol's methods, or a flag of
    rnngrad 0.1 (``tbptt``, ``omega``, ``flossing``: the message gives the new form), a
    `make_cell` that is not a function key -> cell, or a non-callable `on_chunk`.
    Seeds whose training went non-finite are flagged (``TrainResult.finite``) and
    reported with a ``rg.NumericalWarning``.

    Reference: Pascanu, Mikolov & Bengio, ICML 2013 (clipping, Ω, the tasks' protocol).
    """
    if removed:
        name = next(iter(removed))
        hint = _REPLACED.get(name)
        if hint is None:
            raise TypeError(f"train() got an unexpected keyword argument {name!r}.")
        raise TypeError(f"train(): `{name}=` was replaced by `{hint}`.")
    check_callable(
        "make_cell",
        make_cell,
        expected="key -> cell (e.g. lambda k: rg.VanillaCell(2, 64, key=k))",
        where="train",
    )
    penalties = _check_parts(task, optimizer, objective, penalties)
    check_key("key", key, where="train")
    _check_make_cell(make_cell, key, task)
    if checkpoint_dir is not None:
        check_path("checkpoint_dir", checkpoint_dir, kind="folder")
    if progress is not None and not isinstance(progress, bool):
        raise TypeError(f"train: `progress` must be True, False or None, got {describe(progress)}.")
    steps = check_positive_int("steps", steps)
    batch_size = check_positive_int("batch_size", batch_size)
    seeds = check_positive_int("seeds", seeds)
    test_size = check_positive_int("test_size", test_size)
    if chunk_steps is None:
        chunk_steps = steps if checkpoint_dir is None else max(1, steps // 20)
    chunk_steps = check_positive_int("chunk_steps", chunk_steps)
    if steps % chunk_steps:
        raise ValueError(f"`chunk_steps` must divide steps = {steps}, got {chunk_steps}.")
    if on_chunk is not None:
        check_callable(
            "on_chunk", on_chunk, expected="(steps_done, records) -> None, or None", where="train"
        )
    n_chunks = steps // chunk_steps

    def init_one(seed: Array) -> tuple[_State, PRNGKeyArray, PRNGKeyArray]:
        keys = train_keys(key, seed)
        cell = fold_recurrent_scale(make_cell(keys.cell))
        model = RNNModel(cell, task.output_size, key=keys.readout)
        params = eqx.filter(model, eqx.is_inexact_array)
        state = _State(model, optimizer.init(params), jnp.asarray(-1, jnp.int32))
        return state, keys.data, keys.test

    def batch_loss(model: RNNModel, xs: Array, ys: PyTree) -> Array:
        carry0 = init_carry(model.cell)
        step_loss = step_loss_of(task, model)
        targets = jax.vmap(lambda y: step_targets_of(task, y))(ys)

        def example(x: Array, y: PyTree) -> Array:
            return objective.loss(model.cell, x, carry0, step_loss, y)

        value = jnp.mean(jax.vmap(example)(xs, targets))
        for penalty in penalties:
            value = value + penalty(model.cell, xs, carry0, step_loss, targets)
        return value

    def train_step(carry, step_index):
        state, k_data = carry
        xs, ys = task.batch(jax.random.fold_in(k_data, step_index), batch_size)
        model = eqx.combine(state.model, model_static)
        params, static = eqx.partition(model, eqx.is_inexact_array)
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
        new_model = eqx.filter(eqx.combine(params, static), eqx.is_array)
        new_state = _State(new_model, opt_state, first_bad)
        return (new_state, k_data), (loss, norm)

    def run_chunk(state: _State, k_data: PRNGKeyArray, start: Array):
        (state, _), (losses, norms) = jax.lax.scan(
            train_step, (state, k_data), start + jnp.arange(chunk_steps)
        )
        return state, losses, norms

    states, k_datas, k_tests = eqx.filter_vmap(init_one)(jnp.arange(seeds))
    # Only arrays go through scan and vmap; a cell's non-array fields (Python floats,
    # functions) stay outside, shared by every seed.
    model_arrays, model_static = eqx.partition(states.model, eqx.is_array)
    states = _State(model_arrays, states.opt_state, states.first_bad)
    initial_model = eqx.combine(model_arrays, model_static)
    run = eqx.filter_jit(eqx.filter_vmap(run_chunk, in_axes=(0, 0, None)))

    losses = np.full((seeds, steps), np.nan)
    norms = np.full((seeds, steps), np.nan)
    done = 0
    ckpt = None
    if checkpoint_dir is not None:
        ckpt = Checkpoint(
            checkpoint_dir,
            {
                "task": repr(task),
                "steps": steps,
                "batch_size": batch_size,
                "seeds": seeds,
                "key": np.asarray(jax.random.key_data(key)).tolist(),
                "objective": repr(objective),
                "penalties": [repr(p) for p in penalties],
                "chunk_steps": chunk_steps,
                "initial_model": fingerprint(eqx.filter(states.model, eqx.is_inexact_array)),
                "optimizer_state": str(jax.tree_util.tree_structure(states.opt_state)),
            },
        )
        restored = ckpt.restore((states, losses, norms, np.zeros((), np.int64)))
        if restored is not None:
            states, losses, norms, done_arr = restored
            losses, norms, done = np.array(losses), np.array(norms), int(done_arr)

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
            ckpt.save((states, losses, norms, np.asarray(done, np.int64)))
        if on_chunk is not None:
            on_chunk(done, {"losses": losses.copy(), "grad_norms": norms.copy()})

    def evaluate(model: RNNModel, k_test: PRNGKeyArray):
        xs, ys = task.batch(k_test, test_size)
        preds = jax.vmap(lambda x: model.predict(x, task.readout))(xs)
        loss = jnp.mean(jax.vmap(task.loss)(preds, ys))
        return loss, task.error_rate(preds, ys), task.solved(preds, ys)

    trained = eqx.combine(states.model, model_static)
    test_loss, test_err, solved = eqx.filter_jit(eqx.filter_vmap(evaluate))(trained, k_tests)
    result = TrainResult(
        model=trained,
        initial_model=initial_model,
        losses=jnp.asarray(losses),
        grad_norms=jnp.asarray(norms),
        skipped=_count_skips(states.opt_state, seeds),
        first_divergent_step=states.first_bad,
        test_loss=test_loss,
        test_error_rate=test_err,
        solved=solved,
        baseline_loss=float(task.baseline_loss),
    )
    _warn_if_diverged(result)
    return result


def _warn_if_diverged(result: TrainResult) -> None:
    """A :class:`NumericalWarning` naming the seeds whose training went non-finite."""
    bad = np.flatnonzero(~np.asarray(result.finite))
    if bad.size == 0:
        return
    first = np.asarray(result.first_divergent_step)[bad]
    steps = ", ".join(
        f"seed {int(i)}" + (f" (first non-finite step {int(f)})" if f >= 0 else "")
        for i, f in zip(bad, first)
    )
    warnings.warn(
        f"train: {bad.size} of {result.seeds} seeds went non-finite: {steps}. See "
        "TrainResult.finite and .first_divergent_step; a smaller learning rate or "
        "rg.clipped(optimizer, global_norm=..., skip_nonfinite=...) keeps them finite.",
        NumericalWarning,
        stacklevel=3,
    )
