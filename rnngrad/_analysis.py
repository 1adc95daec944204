"""Analyses that sit between a measurement and a table: rates, task profiles, success stats."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, PyTree

from ._anatomy import final_step_profile, lag_profile
from ._checks import (
    Checked,
    NumericalWarning,
    check_callable,
    check_finite,
    check_float_array,
    check_int,
    check_real_scalar,
    describe,
    is_concrete,
)
from ._esn import _in_dtype
from ._tasks import AbstractTask
from .cells import Cell, cell_output, init_carry

__all__ = ["SuccessStats", "growth_rate", "success_stats", "task_lag_profile", "wilson_interval"]

_LN10 = math.log(10.0)
_Z95 = 1.959963984540054  # the 97.5 % quantile of the standard normal


def growth_rate(
    log10_profile: Checked[Float[ArrayLike, "... T"]], *, start: Checked[int] = 0
) -> Float[Array, "..."]:
    """Per-step growth rate of a gradient profile: the least-squares slope of ln‖g_d‖ on d.

    ``log10_profile[..., d]`` is log10 of a gradient norm at lag d (from
    :func:`rnngrad.lag_profile` with ``log10=True``). The slope of ``ln 10 ·
    log10_profile`` against d over ``d >= start`` is the exponential rate per step:
    ``log g`` for a linear network of gain g; negative means vanishing, positive
    exploding. For a long enough profile it converges to the largest Lyapunov exponent.
    Skip the first lags (`start`) where the profile has not yet settled.

    **Arguments:** `log10_profile`: (..., T), leading axes are batch axes; `start`: the
    first lag fitted, ``0 <= start <= T - 2``.

    **Returns:** (...,), natural log per step.

    **Raises:** ``ValueError`` for fewer than two fitted lags or a concrete profile with
    non-finite values in the fitted range (e.g. an exactly-zero gradient, log10 = −inf:
    start later or fit a shorter window; inside ``jit`` such a window gives NaN/inf);
    ``TypeError`` for a non-real profile (strings, None, complex, ints) or a non-int
    `start`.

    >>> import jax.numpy as jnp, rnngrad as rg
    >>> round(float(rg.growth_rate(jnp.arange(10.0) * jnp.log10(0.5))), 6)  # ln 0.5
    -0.693147
    """
    try:
        profile = jnp.asarray(log10_profile)
    except (TypeError, ValueError) as err:
        raise TypeError(
            f"`log10_profile` must be a real array (..., T), got {describe(log10_profile)}."
        ) from err
    if not jnp.issubdtype(profile.dtype, jnp.floating) or profile.ndim == 0:
        raise TypeError(
            f"`log10_profile` must be a real array (..., T), got {describe(log10_profile)}."
        )
    length = profile.shape[-1]
    if length < 2:
        raise ValueError(
            f"`log10_profile` must have at least two lags to fit a slope (T >= 2), got "
            f"{describe(log10_profile)}."
        )
    start = check_int("start", start, minimum=0)
    if length - start < 2:
        raise ValueError(
            f"`start` must leave at least two lags to fit (T = {length}), got start = {start}."
        )
    window = profile[..., start:]
    if is_concrete(window) and not bool(jnp.all(jnp.isfinite(window))):
        raise ValueError(
            "`log10_profile` has non-finite values at lags >= start (an exactly-zero or "
            "overflowed gradient); fit a window where the profile is finite."
        )
    lags = jnp.arange(start, length, dtype=profile.dtype)
    centred = lags - jnp.mean(lags)
    slope = jnp.sum((window - jnp.mean(window, -1, keepdims=True)) * centred, -1) / jnp.sum(
        centred**2
    )
    return _LN10 * slope


@eqx.filter_jit
def _mean_profile(cell, readout, task, xs, ys, relative):
    def one(x, y):
        prof = final_step_profile(
            cell, x, init_carry(cell), lambda c: task.loss(readout(cell_output(cell, c)), y)
        )
        logs = lag_profile(prof, log10=True)
        return logs - logs[0] if relative else logs

    return jnp.mean(jax.vmap(one)(xs, ys), axis=0)


def task_lag_profile(
    cell: Cell,
    task: Checked[AbstractTask],
    xs: Checked[Float[Array, "B T input"]],
    ys: PyTree,
    *,
    readout: Checked[Callable[[Array], Array]],
    relative: Checked[bool] = False,
) -> Float[Array, " T"]:
    """Mean over examples of log10 ‖∂L/∂s_{T-1-d}‖, d = 0..T-1, under the task's loss.

    ``L = task.loss(readout(cell.output(s_{T-1})), y)`` is the loss of the final step
    (the tasks with ``readout="last"``); the profile of each example is exact
    (:func:`rnngrad.final_step_profile`), averaged in log space. One compilation serves
    every cell of the same structure (e.g. a model before and after training).

    **Arguments:**

    - `cell`: any cell; `task`: an ``rg.AbstractTask`` with ``readout="last"``.
    - `xs`, `ys`: a batch, e.g. ``task.batch(key, 64)``.
    - `readout`: features → prediction, e.g. a trained ``model.readout`` or
      ``lambda f: rg.esn.readout_apply(w, f)``.
    - `relative`: subtract each example's lag-0 value (the profile then starts at 0).

    **Returns:** (T,). An exactly-zero gradient at some lag gives −inf there: called
    eagerly, with a :class:`rnngrad.NumericalWarning`.

    **Raises:** ``ValueError`` for a task whose loss is spread over steps
    (``readout="every"``: use :func:`rnngrad.timestep_contributions`), `xs` that is not
    (B, T, task.input_size), `ys` that are not B targets of the task (as
    :meth:`AbstractTask.error_rate` checks them), a `readout` whose prediction is not of
    the task's ``prediction_shape``, or NaN/inf in `xs` (when concrete); ``TypeError``
    for a non-task, a `readout` that is not callable, a non-bool `relative`, a Python
    list (use ``jnp.asarray``), or `xs` of a wider dtype than the cell's.

    Reference: the lag profiles of Bengio, Simard & Frasconi (1994), Fig. 2, and
    Pascanu, Mikolov & Bengio (2013), Sec. 2.

    >>> import jax, rnngrad as rg
    >>> task = rg.AddingTask(10)
    >>> model = rg.RNNModel(rg.VanillaCell(2, 8, key=jax.random.key(0)), 1, key=jax.random.key(1))
    >>> xs, ys = task.batch(jax.random.key(2), 4)
    >>> rg.task_lag_profile(model.cell, task, xs, ys, readout=model.readout).shape
    (10,)
    """
    if not isinstance(task, AbstractTask):
        raise TypeError(f"`task` must be an rnngrad task (rg.make_task), got {describe(task)}.")
    if task.readout != "last":
        raise ValueError(
            f"`task` must have a final-step loss (readout='last'); {task.name} spreads its "
            "loss over the steps (readout='every'): use rg.timestep_contributions and "
            "rg.lag_profile."
        )
    check_callable("readout", readout, expected="features -> prediction")
    if not isinstance(relative, bool):
        raise TypeError(f"`relative` must be a bool, got {describe(relative)}.")
    xs, ys = _task_batch(cell, task, xs, ys)
    carry = jax.eval_shape(lambda: init_carry(cell))
    shape = jax.eval_shape(lambda c: readout(cell_output(cell, c)), carry).shape
    if shape != task.prediction_shape:
        raise ValueError(
            f"`readout` must map the cell's features to one prediction of shape "
            f"{task.prediction_shape} for {task.name}, got shape {shape}."
        )
    profile = _mean_profile(cell, readout, task, xs, ys, relative)
    if is_concrete(profile) and not bool(jnp.all(jnp.isfinite(profile))):
        warnings.warn(
            "task_lag_profile: the profile is not finite: -inf marks lags whose gradient is "
            "exactly zero (e.g. tanh saturated to ±1, or a readout that ignores the "
            "state); use float64 or a smaller scale to resolve them.",
            NumericalWarning,
            stacklevel=2,
        )
    return profile


def _task_batch(cell: Cell, task: AbstractTask, xs: Any, ys: Any) -> tuple[Array, Any]:
    """Check a batch ``(xs, ys)`` of `task` for `cell`; `xs` in the cell's dtype."""
    xs = check_float_array(
        "xs", xs, ndims=(3,), what=f"of shape (B, T, {task.input_size}) (a batch of inputs)"
    )
    if xs.shape[0] == 0 or xs.shape[1] == 0 or xs.shape[2] != task.input_size:
        raise ValueError(
            f"`xs` must have shape (B, T, {task.input_size}) with B, T >= 1 for "
            f"{task.name}, got {describe(xs)}."
        )
    check_finite("xs", xs)
    dtype = jax.tree_util.tree_leaves(jax.eval_shape(lambda: init_carry(cell)))[0].dtype
    xs = _in_dtype("xs", xs, dtype)
    ys = task._target("task_lag_profile", "ys", ys, batch=(xs.shape[0],))
    return xs, ys


def wilson_interval(
    successes: Checked[int], trials: Checked[int], *, z: Checked[float] = _Z95
) -> tuple[float, float]:
    """The Wilson score interval for a binomial proportion (Wilson 1927).

    The bounds are exact at the edges: the lower bound is 0 at 0 successes and the upper
    is 1 at ``successes == trials`` (the closed form's rounding is not left in). With no
    trials the interval is the whole [0, 1].

    **Arguments:** `successes`, `trials`: counts, ints with ``0 <= successes <= trials``
    (concrete integer scalar arrays are accepted); `z`: the normal quantile, > 0
    (default 1.96, a 95 % interval).

    **Returns:** ``(low, high)``, Python floats.

    **Raises:** ``TypeError`` for counts that are not ints (floats, bools, strings) or a
    non-real `z`; ``ValueError`` for negative counts, ``successes > trials``, or a `z`
    that is not finite and > 0.

    >>> from rnngrad._analysis import wilson_interval
    >>> [round(v, 4) for v in wilson_interval(3, 10)]
    [0.1078, 0.6032]
    """
    successes, trials = (
        _count(name, v) for name, v in (("successes", successes), ("trials", trials))
    )
    if successes > trials:
        raise ValueError(
            f"`successes` must be <= `trials`, got successes = {successes} > trials = {trials}."
        )
    z = float(check_real_scalar("z", z, positive=True))
    if trials == 0:
        return (0.0, 1.0)
    p = successes / trials
    denom = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denom
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denom
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == trials else min(1.0, centre + half)
    return (low, high)


def _count(name: str, value: Any) -> int:
    """A count: an int >= 0 (a concrete integer scalar array is read as its int)."""
    if (
        isinstance(value, (jax.Array, np.ndarray))
        and value.shape == ()
        and jnp.issubdtype(value.dtype, jnp.integer)
        and is_concrete(value)
    ):
        value = int(value)
    return check_int(name, value, minimum=0)


class SuccessStats(NamedTuple):
    """Success over seeds: counts, rate, Wilson 95 % interval, seeds stuck at the baseline.

    - `successes`, `trials`: ints; `rate`: successes / trials.
    - `low`, `high`: the Wilson 95 % interval (low is exactly 0 at 0 successes).
    - `stuck`: seeds whose test loss stayed within `tolerance` of the task's baseline
      loss (the best input-independent prediction: the model learned nothing); 0 when
      no losses were given.
    - `diverged`: seeds whose test loss is NaN or inf (a diverged run; never counted as
      stuck); 0 when no losses were given.
    """

    successes: int
    trials: int
    rate: float
    low: float
    high: float
    stuck: int
    diverged: int = 0

    def as_dict(self) -> dict[str, Any]:
        """Plain numbers for a JSON record."""
        return {
            "successes": self.successes,
            "trials": self.trials,
            "rate": self.rate,
            "ci95": [self.low, self.high],
            "stuck_at_baseline": self.stuck,
            "diverged": self.diverged,
        }


def success_stats(
    solved: Any,
    *,
    test_loss: Any = None,
    baseline: Checked[float | None] = None,
    tolerance: Checked[float] = 0.05,
) -> SuccessStats:
    """Success statistics over seeds, with seeds stuck at the task's baseline flagged.

    **Arguments:** `solved`: (seeds,) bools; `test_loss`: (seeds,) final test losses and
    `baseline`: the task's ``baseline_loss`` (both or neither); `tolerance`: a seed is
    stuck if ``test_loss >= (1 − tolerance) · baseline``.

    **Returns:** :class:`SuccessStats`.

    A NaN or inf test loss (a diverged seed) is counted in ``diverged``, not as stuck.

    **Raises:** ``ValueError`` for an empty or non-1-D `solved`, a `test_loss` of
    another shape, a `baseline` that is not finite and > 0, or a `tolerance` outside
    [0, 1]; ``TypeError`` for non-bool `solved` (e.g. 0/1 ints: use
    ``np.asarray(solved, bool)``), a non-real `test_loss`, `baseline` or `tolerance`.

    Reference: E. B. Wilson, "Probable inference, the law of succession, and statistical
    inference", JASA 22 (1927).

    >>> import rnngrad as rg
    >>> s = rg.success_stats([False, False, False], test_loss=[0.17, 0.01, 0.16], baseline=1 / 6)
    >>> s.rate, s.low, s.stuck
    (0.0, 0.0, 2)
    """
    ok = np.asarray(solved)
    if ok.dtype != np.bool_ and ok.size:
        raise TypeError(
            f"`solved` must be an array of bools (seeds,), got {describe(solved)} "
            f"(dtype {ok.dtype}): e.g. np.asarray(solved, bool)."
        )
    if ok.ndim != 1 or ok.size == 0:
        raise ValueError(
            f"`solved` must be a non-empty 1-D array (seeds,), got {describe(solved)}."
        )
    if (test_loss is None) != (baseline is None):
        raise ValueError(
            "give both `test_loss` and `baseline` (the task's baseline_loss), or neither."
        )
    tolerance = float(check_real_scalar("tolerance", tolerance, low=0.0, high=1.0, low_open=False))
    stuck = diverged = 0
    if test_loss is not None:
        baseline = float(check_real_scalar("baseline", baseline, positive=True))
        loss = np.asarray(test_loss)
        if loss.dtype.kind not in "iuf":
            raise TypeError(
                f"`test_loss` must be an array of real numbers (seeds,), got "
                f"{describe(test_loss)} (dtype {loss.dtype})."
            )
        if loss.shape != ok.shape:
            raise ValueError(
                f"`test_loss` must have the shape {ok.shape} of `solved`, "
                f"got {describe(test_loss)}."
            )
        finite = np.isfinite(loss)
        diverged = int(np.sum(~finite))
        stuck = int(np.sum(finite & (loss >= (1.0 - tolerance) * baseline)))
    successes, trials = int(ok.sum()), int(ok.size)
    low, high = wilson_interval(successes, trials)
    return SuccessStats(successes, trials, successes / trials, low, high, stuck, diverged)
