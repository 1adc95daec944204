"""The training loop: every seed at once in one ``jit(vmap(lax.scan(step)))`` program."""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding, PartitionSpec
from jaxtyping import Array, Int, PRNGKeyArray, PyTree

from .._checks import (
    Checked,
    NumericalWarning,
    check_callable,
    check_key,
    check_path,
    check_positive_int,
    check_real_scalar,
    describe,
)
from .._sweep import _axis_array, _check_devices, put_sharded, to_host
from .._tasks import AbstractTask
from ..cells import check_cell, fold_recurrent_scale, init_carry, scale_recurrent
from ._checkpoint import Checkpoint, fingerprint
from ._model import RNNModel, step_loss_of, step_targets_of
from ._objectives import BPTT, AbstractObjective
from ._penalties import AbstractPenalty
from ._result import TrainGrid, TrainResult, take_point, train_keys

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


def _count_skips(opt_state: Any, shape: tuple[int, ...]) -> Array:
    """Updates skipped by ``optax.apply_if_finite`` per run (0 if it is not used)."""
    total = jnp.zeros(shape, jnp.int32)
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


_SCALE = "recurrent_scale"
_INJECTED = (optax.InjectHyperparamsState, optax.InjectStatefulHyperparamsState)


def _is_injected(x: Any) -> bool:
    return isinstance(x, _INJECTED)


def _optimizer_hyperparams(opt_state: Any) -> list[str]:
    """Names of the numeric hyperparameters ``optax.inject_hyperparams`` put in a state."""
    names: list[str] = []
    for leaf in jax.tree_util.tree_leaves(opt_state, is_leaf=_is_injected):
        if _is_injected(leaf):
            names += [n for n in leaf.hyperparams if n not in names]
    return names


def _inject(opt_state: Any, values: dict[str, Array]) -> Any:
    """`opt_state` with every injected hyperparameter named in `values` set to its value."""

    def one(leaf: Any) -> Any:
        if not _is_injected(leaf):
            return leaf
        hp = {
            n: jnp.asarray(values[n]).astype(jnp.asarray(v).dtype) if n in values else v
            for n, v in leaf.hyperparams.items()
        }
        return leaf._replace(hyperparams=hp)

    return jax.tree_util.tree_map(one, opt_state, is_leaf=_is_injected)


def _penalty_name(penalty: AbstractPenalty) -> str | None:
    """The hyperparameter name of a penalty's strength (None: it has no `strength`)."""
    if not hasattr(penalty, "strength"):
        return None
    return f"{type(penalty).__name__.lower()}_strength"


def _known_hyperparams(
    make_cell: Callable, key: Any, task: AbstractTask, optimizer: Any, penalties: tuple
) -> tuple[list[str], list[str]]:
    """(optimizer names, all names) that `hyperparams`/`grid` may set, found abstractly."""

    def opt_state_of(k: Any) -> Any:
        model = RNNModel(fold_recurrent_scale(make_cell(k)), task.output_size, key=k)
        return optimizer.init(eqx.filter(model, eqx.is_inexact_array))

    opt_names = _optimizer_hyperparams(eqx.filter_eval_shape(opt_state_of, key))
    pen_names = [n for n in map(_penalty_name, penalties) if n is not None]
    for name in pen_names:
        if pen_names.count(name) > 1:
            raise ValueError(
                f"train: `penalties` holds two {name.split('_')[0]} penalties; their strengths "
                f"would share the name {name!r}: combine them into one."
            )
    return opt_names, [*opt_names, _SCALE, *pen_names]


def _unknown(name: str, where: str, known: Sequence[str], opt_names: Sequence[str]) -> ValueError:
    hint = (
        ""
        if opt_names
        else " The optimizer has no injectable hyperparameters: build it with "
        "optax.inject_hyperparams, e.g. optax.inject_hyperparams(optax.sgd)(learning_rate=0.01),"
        " and use rg.clipped for injectable clip thresholds."
    )
    return ValueError(
        f"train: `{where}` names {name!r}, which is not a hyperparameter of this run; the "
        f"names are {sorted(known)} (optimizer hyperparameters from optax.inject_hyperparams, "
        f"{_SCALE!r} for rg.scale_recurrent, '<penalty>_strength' per penalty).{hint}"
    )


def _check_hyperparams(
    hyperparams: Any, grid: Any, known: Sequence[str], opt_names: Sequence[str]
) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """`hyperparams` as name -> finite float and `grid` as name -> finite 1-D array."""
    values: dict[str, float] = {}
    axes: dict[str, np.ndarray] = {}
    for where, given in (("hyperparams", hyperparams), ("grid", grid)):
        if given is None:
            continue
        if not isinstance(given, Mapping):
            raise TypeError(
                f"train: `{where}` must be a dict of name -> "
                f"{'number' if where == 'hyperparams' else '1-D array'}, got {describe(given)}."
            )
        for name, value in given.items():
            if name not in known:
                raise _unknown(name, where, known, opt_names)
            label = f"{where}[{name!r}]"
            if where == "hyperparams":
                if hasattr(value, "shape") and np.ndim(value) != 0:
                    raise ValueError(
                        f"train: `{label}` must be one number, got {describe(value)}; "
                        f"to train several values at once, put them in `grid`."
                    )
                check_real_scalar(label, value)
                values[name] = float(value)
                continue
            array = np.asarray(_axis_array(label, value))  # as an rg.sweep axis
            if np.iscomplexobj(array) or array.dtype == bool:
                raise TypeError(f"train: `{label}` must hold real numbers, got {describe(value)}.")
            if name in values:
                raise ValueError(
                    f"train: {name!r} is given both in `hyperparams` and in `grid`; keep one."
                )
            axes[name] = array.astype(float)
    return values, axes


class _Config(eqx.Module):
    """What a compiled training chunk depends on besides its arrays (its cache key)."""

    task: AbstractTask = eqx.field(static=True)
    optimizer: optax.GradientTransformation = eqx.field(static=True)
    objective: AbstractObjective = eqx.field(static=True)
    batch_size: int = eqx.field(static=True)
    chunk_steps: int = eqx.field(static=True)


def _batch_loss(config: _Config, penalties: tuple, model: RNNModel, xs: Array, ys: PyTree) -> Array:
    task = config.task
    carry0 = init_carry(model.cell)
    step_loss = step_loss_of(task, model)
    targets = jax.vmap(lambda y: step_targets_of(task, y))(ys)

    def example(x: Array, y: PyTree) -> Array:
        return config.objective.loss(model.cell, x, carry0, step_loss, y)

    value = jnp.mean(jax.vmap(example)(xs, targets))
    for penalty in penalties:
        value = value + penalty(model.cell, xs, carry0, step_loss, targets)
    return value


def _run_seed(
    config: _Config, model_static: Any, penalties: tuple, state: _State, k_data: Any, start: Array
) -> tuple[_State, Array, Array]:
    """`config.chunk_steps` optimiser steps of one seed at one grid point."""

    def train_step(state: _State, step_index: Array) -> tuple[_State, tuple[Array, Array]]:
        xs, ys = config.task.batch(jax.random.fold_in(k_data, step_index), config.batch_size)
        params, static = eqx.partition(eqx.combine(state.model, model_static), eqx.is_inexact_array)
        loss, grads = jax.value_and_grad(
            lambda p: _batch_loss(config, penalties, eqx.combine(p, static), xs, ys)
        )(params)
        norm = optax.tree.norm(grads)
        updates, opt_state = config.optimizer.update(grads, state.opt_state, params)
        params = optax.apply_updates(params, updates)
        bad = ~(jnp.isfinite(loss) & jnp.isfinite(norm))
        first_bad = jnp.where(
            (state.first_bad < 0) & bad, step_index.astype(jnp.int32), state.first_bad
        )
        new_model = eqx.filter(eqx.combine(params, static), eqx.is_array)
        return _State(new_model, opt_state, first_bad), (loss, norm)

    state, (losses, norms) = jax.lax.scan(train_step, state, start + jnp.arange(config.chunk_steps))
    return state, losses, norms


@eqx.filter_jit
def _run_chunk(
    config: _Config,
    model_static: Any,
    penalties: tuple,
    strengths: tuple,
    states: _State,
    k_datas: Any,
    start: Array,
) -> tuple[_State, Array, Array]:
    """One chunk of every (grid point, seed): the one compiled program of ``rg.train``.

    Everything numeric (states, keys, penalty strengths, the optimizer's injected
    hyperparameters inside its state) is traced, so another call with other values of
    them reuses this compiled program.
    """

    def point(states_p: _State, strengths_p: tuple) -> tuple[_State, Array, Array]:
        pens = tuple(
            p if s is None else eqx.tree_at(lambda p: p.strength, p, s)
            for p, s in zip(penalties, strengths_p)
        )
        seed = lambda s, k: _run_seed(config, model_static, pens, s, k, start)
        return jax.vmap(seed)(states_p, k_datas)

    return jax.vmap(point)(states, strengths)


@eqx.filter_jit
def _init(
    make_cell: Callable,
    optimizer: optax.GradientTransformation,
    out_size: int,
    key: PRNGKeyArray,
    seeds: int,
    scales: Array | None,
    points: int,
) -> tuple[_State, Any, Any]:
    """Every (grid point, seed)'s model and optimizer state, and each seed's data/test keys.

    One compiled program (not op-by-op dispatch): it is most of a first call otherwise.
    """

    def one(point: Array, seed: Array) -> tuple[_State, PRNGKeyArray, PRNGKeyArray]:
        keys = train_keys(key, seed)
        cell = make_cell(keys.cell)
        if scales is not None:
            cell = scale_recurrent(cell, scales[point])
        model = RNNModel(fold_recurrent_scale(cell), out_size, key=keys.readout)
        opt_state = optimizer.init(eqx.filter(model, eqx.is_inexact_array))
        return _State(model, opt_state, jnp.asarray(-1, jnp.int32)), keys.data, keys.test

    per_seed = eqx.filter_vmap(one, in_axes=(None, 0))
    return eqx.filter_vmap(per_seed, in_axes=(0, None))(jnp.arange(points), jnp.arange(seeds))


@eqx.filter_jit
def _evaluate(task: AbstractTask, test_size: int, models: Any, k_tests: Any) -> tuple:
    """Test loss, error rate, solved, and whether the test loss and every trained
    parameter are finite, of every (grid point, seed) on fresh samples."""

    def one(model: RNNModel, k_test: Any) -> tuple[Array, Array, Array, Array]:
        xs, ys = task.batch(k_test, test_size)
        preds = jax.vmap(lambda x: model.predict(x, task.readout))(xs)
        loss = jnp.mean(jax.vmap(task.loss)(preds, ys))
        finite = jnp.isfinite(loss)
        for leaf in jax.tree_util.tree_leaves(eqx.filter(model, eqx.is_inexact_array)):
            finite = finite & jnp.all(jnp.isfinite(leaf))
        return loss, task.error_rate(preds, ys), task.solved(preds, ys), finite

    per_point = eqx.filter_vmap(eqx.filter_vmap(one), in_axes=(eqx.if_array(0), None))
    return per_point(models, k_tests)


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
    hyperparams: Checked[Mapping[str, float] | None] = None,
    grid: Checked[Mapping[str, Any] | None] = None,
    devices: Checked[Sequence[jax.Device] | None] = None,
    chunk_steps: Checked[int | None] = None,
    test_size: Checked[int] = 10_000,
    checkpoint_dir: Checked[str | os.PathLike | None] = None,
    progress: Checked[bool | None] = None,
    on_chunk: Checked[Callable[[int, dict[str, np.ndarray]], None] | None] = None,
    **removed: Any,
) -> TrainResult | TrainGrid:
    """Train a cell + linear readout on `task` for every seed (and grid point) at once.

    Seed ``i`` draws its cell, readout, data stream and test set from
    :func:`rnngrad.train_keys` ``(key, i)`` (batch n uses ``fold_in(keys.data, n)``),
    the same at every grid point (common random numbers). All seeds and grid points run
    in one compiled ``jit(vmap(vmap(lax.scan(step))))`` program. The loss of a batch is
    the mean over examples of ``objective.loss`` (the task's loss, summed over steps)
    plus every penalty.

    **Hyperparameters are traced values.** The numbers a run is tuned by are arrays in
    the compiled program, not constants baked into it: the optimizer's
    hyperparameters when it is built with ``optax.inject_hyperparams`` (and the clip
    thresholds of :func:`rnngrad.clipped`: ``max_norm``, ``max_delta``, ``clipping``),
    ``recurrent_scale`` (``rg.scale_recurrent`` of the initial cell, folded in), and each
    penalty's strength (``omega_strength``, ``flossing_strength``). A second call that
    passes the *same* `make_cell`, `task`, `optimizer` object and penalties with other
    `hyperparams` reuses the compiled program. `grid` trains the cartesian grid of the
    given values × seeds in that one program.

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
    - `hyperparams`: ``{name: number}``, values of the hyperparameters named above for
      this run (e.g. ``{"learning_rate": 0.01, "max_norm": 1.0}``).
    - `grid`: ``{name: 1-D array}``: train every point of the cartesian grid of these
      values (× `seeds`); the call then returns a :class:`rnngrad.TrainGrid`.
    - `devices`: devices to shard the grid points over (default ``jax.devices()``; the
      points are padded to a multiple of their number, the padding dropped).
    - `chunk_steps`: steps per compiled chunk (progress and checkpoints between chunks;
      default: all steps in one chunk, or ~20 chunks when checkpointing).
    - `test_size`: fresh test samples per seed for the final metrics (Pascanu: 10,000).
    - `checkpoint_dir`: save the state atomically at every chunk boundary and resume
      from it: a killed run restarted with the same arguments ends bitwise equal to an
      uninterrupted one.
    - `progress`: tqdm bar over chunks (default: when there are several chunks).
    - `on_chunk`: called after every chunk (and its checkpoint) as
      ``on_chunk(steps_done, {"losses": ..., "grad_norms": ...})`` with the (seeds,
      steps) records so far ((*grid, seeds, steps) with a `grid`; NaN where not yet run).

    **Returns:** :class:`rnngrad.TrainResult`, or :class:`rnngrad.TrainGrid` when `grid`
    is given.

    **Raises:** ``ValueError`` for non-positive `steps`/`batch_size`/`seeds`, an
    objective that does not fit the task (``TruncatedBPTT`` with k2 > T), a name in
    `hyperparams`/`grid` that is not a hyperparameter of the run (the message lists the
    names), a grid axis that is not a non-empty 1-D array or holds NaN/inf, a
    hyperparameter that is not one finite number or is in both `hyperparams` and
    `grid`, or a `checkpoint_dir` holding a run with other arguments or an older format
    (the message names what differs), an existing file as `checkpoint_dir`, or a
    corrupted ``run.json``/``state.eqx`` in it (named, with the fix: delete it or choose
    another folder); ``TypeError`` for a non-optax `optimizer`, a non-task, a bad
    `objective`/`penalties`, a cell without the protocol's methods, or a flag of
    rnngrad 0.1 (``tbptt``, ``omega``, ``flossing``: the message gives the new form), a
    `make_cell` that is not a function key -> cell, a non-callable `on_chunk`, or
    `hyperparams`/`grid` that are not dicts of numbers. Seeds whose training went
    non-finite are flagged (``TrainResult.finite``) and reported with a
    ``rg.NumericalWarning``.

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
    opt_names, known = _known_hyperparams(make_cell, key, task, optimizer, penalties)
    values, axes = _check_hyperparams(hyperparams, grid, known, opt_names)
    devices = _check_devices(devices)
    n_chunks = steps // chunk_steps

    # The flat grid of points (one point without a grid), padded to the devices.
    shape = tuple(len(a) for a in axes.values())
    total = math.prod(shape)
    index = np.indices(shape).reshape(len(shape), total)
    n_dev = len(devices) if grid is not None else 1
    padded = -(-total // n_dev) * n_dev
    take = np.concatenate([np.arange(total), np.full(padded - total, total - 1)]).astype(int)
    dtype = jnp.result_type(float)
    flat = {n: jnp.asarray(a[index[i]][take], dtype) for i, (n, a) in enumerate(axes.items())}
    flat.update({n: jnp.full((padded,), v, dtype) for n, v in values.items()})
    strengths = tuple(
        None
        if _penalty_name(p) is None
        else flat.get(_penalty_name(p), jnp.full((padded,), p.strength, dtype))
        for p in penalties
    )
    opt_values = {n: flat[n] for n in opt_names if n in flat}

    states, k_datas, k_tests = _init(
        make_cell, optimizer, task.output_size, key, seeds, flat.get(_SCALE), padded
    )
    # Set outside the compiled init, so that naming other hyperparameters reuses it.
    opt_values = {n: jnp.broadcast_to(v[:, None], (padded, seeds)) for n, v in opt_values.items()}
    states = _State(states.model, _inject(states.opt_state, opt_values), states.first_bad)
    k_datas, k_tests = k_datas[0], k_tests[0]  # the same at every point
    # Only arrays go through scan and vmap; a cell's non-array fields (Python floats,
    # functions) stay outside, shared by every seed.
    model_arrays, model_static = eqx.partition(states.model, eqx.is_array)
    states = _State(model_arrays, states.opt_state, states.first_bad)
    if n_dev > 1:
        sharding = NamedSharding(Mesh(np.asarray(devices), ("grid",)), PartitionSpec("grid"))
        states, strengths = put_sharded((states, strengths), sharding)
    initial_model = eqx.combine(model_arrays, model_static)
    config = _Config(task, optimizer, objective, batch_size, chunk_steps)
    # The strengths travel as traced values: blank the penalties' own (cache key).
    blank = tuple(
        p if _penalty_name(p) is None else eqx.tree_at(lambda p: p.strength, p, 0.0)
        for p in penalties
    )

    losses = np.full((padded, seeds, steps), np.nan)
    norms = np.full((padded, seeds, steps), np.nan)
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
                "hyperparams": values,
                "grid": {n: a.tolist() for n, a in axes.items()},
                "chunk_steps": chunk_steps,
                "initial_model": fingerprint(eqx.filter(states.model, eqx.is_inexact_array)),
                "optimizer_state": str(jax.tree_util.tree_structure(states.opt_state)),
            },
        )
        restored = ckpt.restore((states, losses, norms, np.zeros((), np.int64)))
        if restored is not None:
            states, losses, norms, done_arr = restored
            losses, norms, done = np.array(losses), np.array(norms), int(done_arr)

    def records(array: np.ndarray) -> np.ndarray:
        """(padded, seeds, steps) -> (seeds, steps), or (*grid, seeds, steps)."""
        return array[0] if grid is None else array[:total].reshape(*shape, *array.shape[1:])

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
        states, chunk_losses, chunk_norms = _run_chunk(
            config, model_static, blank, strengths, states, k_datas, jnp.asarray(start)
        )
        chunk_losses, chunk_norms = to_host((chunk_losses, chunk_norms))
        losses[..., start : start + chunk_steps] = chunk_losses
        norms[..., start : start + chunk_steps] = chunk_norms
        done = start + chunk_steps
        if ckpt is not None:
            ckpt.save((states, losses, norms, np.asarray(done, np.int64)))
        if on_chunk is not None:
            on_chunk(done, {"losses": records(losses.copy()), "grad_norms": records(norms.copy())})

    trained = eqx.combine(states.model, model_static)
    test_loss, test_err, solved, finite = _evaluate(task, test_size, trained, k_tests)
    if jax.process_count() > 1:  # shards on other processes (jax.distributed): gather
        states, test_loss, test_err, solved = jax.tree_util.tree_map(
            jnp.asarray, to_host((states, test_loss, test_err, solved))
        )
        trained = eqx.combine(states.model, model_static)
    # TrainResult.finite, computed in the compiled evaluation (eagerly it costs a dispatch
    # per leaf, a noticeable part of a short run's time).
    finite = to_host(finite) & (to_host(states.first_bad) < 0)
    batched = TrainResult(
        model=trained,
        initial_model=initial_model,
        losses=jnp.asarray(losses),
        grad_norms=jnp.asarray(norms),
        skipped=_count_skips(states.opt_state, (padded, seeds)),
        first_divergent_step=states.first_bad,
        test_loss=test_loss,
        test_error_rate=test_err,
        solved=solved,
        baseline_loss=float(task.baseline_loss),
    )
    if grid is None:
        result = take_point(batched, 0)
        _warn_if_diverged(result, finite[0])
        return result
    arrays, static = eqx.partition(batched, eqx.is_array)
    arrays = jax.tree_util.tree_map(lambda a: a[:total].reshape(*shape, *a.shape[1:]), arrays)
    out = TrainGrid(axes, eqx.combine(arrays, static))
    _warn_if_grid_diverged(out, finite[:total].reshape(*shape, seeds))
    return out


def _warn_if_diverged(result: TrainResult, finite: np.ndarray) -> None:
    """A :class:`NumericalWarning` naming the seeds whose training went non-finite."""
    bad = np.flatnonzero(~finite)
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


def _warn_if_grid_diverged(out: TrainGrid, finite: np.ndarray) -> None:
    """One :class:`NumericalWarning` naming the grid points with non-finite seeds."""
    bad = np.argwhere(~finite.all(axis=-1))
    if bad.size == 0:
        return
    points = "; ".join(
        ", ".join(f"{n}={out.axes[n][i]:g}" for n, i in zip(out.names, idx))
        + f" ({int((~finite[tuple(idx)]).sum())} of {out.seeds} seeds)"
        for idx in bad[:10]
    )
    more = f" and {len(bad) - 10} more points" if len(bad) > 10 else ""
    warnings.warn(
        f"train: seeds went non-finite at {len(bad)} of {finite[..., 0].size} grid points: "
        f"{points}{more}. See TrainGrid.results.finite; a smaller learning rate or clipping "
        "keeps them finite.",
        NumericalWarning,
        stacklevel=3,
    )
