"""What :func:`rnngrad.train` returns, and the public key schedule of its seeds."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int, PRNGKeyArray

from .._analysis import SuccessStats, success_stats
from .._checks import Checked, check_int, check_key, describe
from .._sweep import SweepResult

__all__ = ["TrainGrid", "TrainKeys", "TrainResult", "train_keys"]


class TrainKeys(NamedTuple):
    """The keys :func:`rnngrad.train` gives one seed: cell init, readout init, data, test."""

    cell: PRNGKeyArray
    readout: PRNGKeyArray
    data: PRNGKeyArray
    test: PRNGKeyArray


def train_keys(key: Checked[PRNGKeyArray], seed: Checked[int | Array]) -> TrainKeys:
    """The keys of seed `seed` in ``rg.train(..., key=key)``: ``split(fold_in(key, seed), 4)``.

    Use it to rebuild what training drew without re-deriving the schedule: e.g. the
    initial model is ``rg.RNNModel(make_cell(k.cell), out, key=k.readout)`` (to float
    rounding: training draws it inside one compiled program; ``TrainResult.initial_model``
    holds it exactly), batch n of training is
    ``task.batch(fold_in(k.data, n), batch_size)`` and the test set is
    ``task.batch(k.test, test_size)``.

    **Arguments:** `key`: the key given to ``rg.train``; `seed`: an int >= 0 (may be
    traced, to ``vmap`` over seeds).

    **Returns:** :class:`TrainKeys`.

    **Raises:** ``TypeError``/``ValueError`` for a bad key or a negative `seed`.

    >>> import jax, rnngrad as rg
    >>> k = rg.train_keys(jax.random.key(0), 3)
    >>> k._fields
    ('cell', 'readout', 'data', 'test')
    """
    check_key("key", key, where="train_keys")
    if not isinstance(seed, jax.Array):
        seed = check_int("seed", seed, minimum=0, where="train_keys")
    elif seed.shape != () or not jnp.issubdtype(seed.dtype, jnp.integer):
        raise ValueError(
            f"train_keys: `seed` must be one integer (use jax.vmap over seeds), got "
            f"{describe(seed)}."
        )
    return TrainKeys(*jax.random.split(jax.random.fold_in(key, seed), 4))


class TrainResult(eqx.Module):
    """What :func:`rnngrad.train` returns; per-seed arrays have a leading seed axis.

    - ``model``: the trained :class:`rnngrad.RNNModel`s, batched over seeds.
    - ``initial_model``: the same models before the first update (what
      :func:`rnngrad.train_keys` draws), batched over seeds.
    - ``losses``: (seeds, steps) training loss (batch mean, penalties included).
    - ``grad_norms``: (seeds, steps) global gradient norm *before* clipping.
    - ``skipped``: (seeds,) updates skipped as non-finite (``optax.apply_if_finite``).
    - ``first_divergent_step``: (seeds,) first step whose loss or gradient was
      non-finite, -1 if none.
    - ``test_loss``, ``test_error_rate``: (seeds,) on fresh test samples.
    - ``solved``: (seeds,) bool, the task's success criterion on the test samples.
    - ``baseline_loss``: the task's loss of the best input-independent prediction.
    """

    model: Any
    initial_model: Any
    losses: Float[Array, "*grid seeds steps"]
    grad_norms: Float[Array, "*grid seeds steps"]
    skipped: Int[Array, "*grid seeds"]
    first_divergent_step: Int[Array, "*grid seeds"]
    test_loss: Float[Array, "*grid seeds"]
    test_error_rate: Float[Array, "*grid seeds"]
    solved: Bool[Array, "*grid seeds"]
    baseline_loss: float = eqx.field(static=True)

    @property
    def finite(self) -> Bool[Array, "*grid seeds"]:
        """(seeds,) False for a seed whose training loss or gradient went non-finite at
        some step, whose test loss is NaN/inf, or whose trained parameters are not finite.

        :func:`rnngrad.train` also warns (``rg.NumericalWarning``) when a seed is flagged.
        """
        ok = (self.first_divergent_step < 0) & jnp.isfinite(self.test_loss)
        for leaf in jax.tree_util.tree_leaves(eqx.filter(self.model, eqx.is_inexact_array)):
            lead = self.solved.shape
            ok = ok & jnp.all(jnp.isfinite(leaf.reshape(*lead, -1)), axis=-1)
        return ok

    @property
    def seeds(self) -> int:
        """The number of seeds."""
        return int(np.asarray(self.solved).shape[-1])

    def seed_model(self, seed: Checked[int], *, initial: bool = False) -> Any:
        """Seed `seed`'s model (trained, or before training with ``initial=True``).

        **Raises:** ``ValueError`` for a seed outside [0, seeds).
        """
        seed = check_int("seed", seed, minimum=0, where="TrainResult.seed_model")
        if seed >= self.seeds:
            raise ValueError(
                f"TrainResult.seed_model: `seed` must be < {self.seeds} (the seeds trained), "
                f"got {seed}."
            )
        arrays, static = eqx.partition(self.initial_model if initial else self.model, eqx.is_array)
        return eqx.combine(jax.tree_util.tree_map(lambda a: a[seed], arrays), static)

    @property
    def success(self) -> SuccessStats:
        """Success over seeds (:func:`rnngrad.success_stats`), stuck seeds flagged."""
        return success_stats(
            np.asarray(self.solved),
            test_loss=np.asarray(self.test_loss),
            baseline=self.baseline_loss,
        )

    @property
    def success_rate(self) -> float:
        """Fraction of seeds that solved the task."""
        return self.success.rate

    @property
    def success_interval(self) -> tuple[float, float]:
        """Wilson 95 % interval of the success rate over seeds."""
        s = self.success
        return (s.low, s.high)

    def summary(self) -> dict[str, Any]:
        """Plain-number summary: success rate and interval, losses, divergence."""
        s = self.success
        return {
            "seeds": s.trials,
            "success_rate": s.rate,
            "success_95ci": [s.low, s.high],
            "stuck_at_baseline": s.stuck,
            "test_loss_median": float(np.nanmedian(np.asarray(self.test_loss))),
            "test_error_rate_median": float(np.nanmedian(np.asarray(self.test_error_rate))),
            "diverged_seeds": int(np.sum(np.asarray(self.first_divergent_step) >= 0)),
            "skipped_updates": [int(v) for v in np.asarray(self.skipped)],
        }


def take_point(batched: TrainResult, index: tuple[int, ...] | int) -> TrainResult:
    """The :class:`TrainResult` of one grid point of a result batched over the grid."""
    arrays, static = eqx.partition(batched, eqx.is_array)
    return eqx.combine(jax.tree_util.tree_map(lambda a: a[index], arrays), static)


class TrainGrid:
    """What ``rg.train(..., grid=...)`` returns: every grid point's training, batched.

    Attributes:

    - ``axes``: ``{name: 1-D numpy array}``, the grid in the order given.
    - ``results``: a :class:`TrainResult` whose arrays carry the leading grid axes:
      ``losses`` is (*grid, seeds, steps), ``solved`` (*grid, seeds), the models are
      batched over (*grid, seeds).

    ``grid[i, j]`` (one index per axis) or ``grid.point(learning_rate=0.01, ...)`` (axis
    values) gives one point's :class:`TrainResult`; ``success_rate`` and
    ``success_interval`` are arrays over the grid; :meth:`stats` (and :meth:`save`) keep
    the axis names in an ``rg.SweepResult``.
    """

    def __init__(self, axes: Checked[dict[str, np.ndarray]], results: Checked[TrainResult]):
        self.axes = {n: np.asarray(a) for n, a in axes.items()}
        self.results = results
        if tuple(np.shape(results.solved)[:-1]) != self.shape:
            raise ValueError(
                f"TrainGrid: results of grid shape {np.shape(results.solved)[:-1]} do not match "
                f"the axes' {self.shape}."
            )

    @property
    def names(self) -> tuple[str, ...]:
        """The axis names, in grid order."""
        return tuple(self.axes)

    @property
    def shape(self) -> tuple[int, ...]:
        """The grid's shape, one length per axis."""
        return tuple(len(a) for a in self.axes.values())

    @property
    def seeds(self) -> int:
        """Seeds per grid point."""
        return self.results.seeds

    def __repr__(self) -> str:
        axes = ", ".join(f"{n}={len(a)}" for n, a in self.axes.items())
        return f"TrainGrid({axes}, seeds={self.seeds})"

    def __getitem__(self, index: Any) -> TrainResult:
        index = index if isinstance(index, tuple) else (index,)
        if len(index) != len(self.shape) or not all(
            isinstance(i, (int, np.integer)) and not isinstance(i, bool) for i in index
        ):
            raise TypeError(
                f"TrainGrid: index with {len(self.shape)} ints (one per axis {list(self.axes)}),"
                f" got {index!r}; by value use .point(name=value, ...)."
            )
        for i, n, length in zip(index, self.axes, self.shape):
            if not -length <= i < length:
                raise IndexError(
                    f"TrainGrid: index {i} is out of range for axis {n!r} of {length}."
                )
        return take_point(self.results, tuple(int(i) for i in index))

    def point(self, **coords: float) -> TrainResult:
        """The :class:`TrainResult` at the grid point with these axis values.

        **Raises:** ``ValueError`` for a missing or unknown axis or a value not on its axis
        (the message lists the axis values).
        """
        if set(coords) != set(self.axes):
            raise ValueError(
                f"TrainGrid.point: give one value per axis {list(self.axes)}, got {sorted(coords)}."
            )
        index = []
        for name, axis in self.axes.items():
            hit = np.flatnonzero(np.isclose(axis, coords[name], rtol=1e-12, atol=0.0))
            if hit.size == 0:
                raise ValueError(
                    f"TrainGrid.point: {name}={coords[name]!r} is not on the axis; its values "
                    f"are {axis.tolist()}."
                )
            index.append(int(hit[0]))
        return self[tuple(index)]

    def _per_point(self) -> list[SuccessStats]:
        solved = np.asarray(self.results.solved).reshape(-1, self.seeds)
        losses = np.asarray(self.results.test_loss).reshape(-1, self.seeds)
        base = self.results.baseline_loss
        return [success_stats(s, test_loss=t, baseline=base) for s, t in zip(solved, losses)]

    @property
    def success_rate(self) -> np.ndarray:
        """(*grid) fraction of seeds that solved the task at each point."""
        return np.asarray([s.rate for s in self._per_point()]).reshape(self.shape)

    @property
    def success_interval(self) -> tuple[np.ndarray, np.ndarray]:
        """(low, high), each (*grid): the Wilson 95 % interval of each point's success rate."""
        stats = self._per_point()
        low = np.asarray([s.low for s in stats]).reshape(self.shape)
        return low, np.asarray([s.high for s in stats]).reshape(self.shape)

    def stats(self) -> SweepResult:
        """Per-point statistics on the named grid, as an ``rg.SweepResult``.

        ``values`` holds (*grid) ``success_rate``, ``success_low``, ``success_high``,
        ``stuck``, ``diverged``, ``test_loss_median``, and (*grid, seeds) ``test_loss``.
        """
        stats = self._per_point()
        field = lambda f: np.asarray([getattr(s, f) for s in stats], float).reshape(self.shape)
        test_loss = np.asarray(self.results.test_loss)
        values = {
            "success_rate": field("rate"),
            "success_low": field("low"),
            "success_high": field("high"),
            "stuck": field("stuck"),
            "diverged": field("diverged"),
            "test_loss_median": np.nanmedian(test_loss, axis=-1),
            "test_loss": test_loss,
        }
        return SweepResult(self.axes, values)

    def save(self, path: Checked[str | os.PathLike]) -> Path:
        """Save :meth:`stats` atomically (``rg.load_sweep`` reads it back)."""
        return self.stats().save(path)
