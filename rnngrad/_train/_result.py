"""What :func:`rnngrad.train` returns, and the public key schedule of its seeds."""

from __future__ import annotations

from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int, PRNGKeyArray

from .._analysis import SuccessStats, success_stats
from .._checks import Checked, check_int, check_key, describe

__all__ = ["TrainKeys", "TrainResult", "train_keys"]


class TrainKeys(NamedTuple):
    """The keys :func:`rnngrad.train` gives one seed: cell init, readout init, data, test."""

    cell: PRNGKeyArray
    readout: PRNGKeyArray
    data: PRNGKeyArray
    test: PRNGKeyArray


def train_keys(key: Checked[PRNGKeyArray], seed: Checked[int | Array]) -> TrainKeys:
    """The keys of seed `seed` in ``rg.train(..., key=key)``: ``split(fold_in(key, seed), 4)``.

    Use it to rebuild what training drew without re-deriving the schedule: e.g. the
    initial model is ``rg.RNNModel(make_cell(k.cell), out, key=k.readout)`` (also
    available as ``TrainResult.initial_model``), batch n of training is
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
    losses: Float[Array, "seeds steps"]
    grad_norms: Float[Array, "seeds steps"]
    skipped: Int[Array, " seeds"]
    first_divergent_step: Int[Array, " seeds"]
    test_loss: Float[Array, " seeds"]
    test_error_rate: Float[Array, " seeds"]
    solved: Bool[Array, " seeds"]
    baseline_loss: float = eqx.field(static=True)

    @property
    def finite(self) -> Bool[Array, " seeds"]:
        """(seeds,) False for a seed whose training loss or gradient went non-finite at
        some step, whose test loss is NaN/inf, or whose trained parameters are not finite.

        :func:`rnngrad.train` also warns (``rg.NumericalWarning``) when a seed is flagged.
        """
        ok = (self.first_divergent_step < 0) & jnp.isfinite(self.test_loss)
        for leaf in jax.tree_util.tree_leaves(eqx.filter(self.model, eqx.is_inexact_array)):
            ok = ok & jnp.all(jnp.isfinite(leaf.reshape(leaf.shape[0], -1)), axis=1)
        return ok

    @property
    def seeds(self) -> int:
        """The number of seeds."""
        return int(np.asarray(self.solved).size)

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
