"""Synthetic long-term-dependency tasks: adding, multiplication, temporal order, copy.

The pathological problems of Hochreiter & Schmidhuber (1997), as used by Pascanu,
Mikolov & Bengio (2013) and their code (``pascanur/trainingRNNs``), and the copy
(memorisation) task in the form of Arjovsky, Shah & Bengio (2016).

Every task is a hashable equinox Module without array leaves (so it can be passed
through ``jax.jit``/``jax.vmap`` or closed over freely) with one uniform API:

- ``task.sample(key) -> (xs, y)``: ONE example; ``xs`` is (T, input_size), ``y`` the target.
  Batches are ``jax.vmap`` over keys, or ``task.batch(key, batch_size)``.
- ``task.loss(prediction, y)``: the training loss of one example (squared error or
  softmax cross-entropy), ``task.baseline_loss``: the expected loss of the best
  prediction that ignores the input, computed from the target distribution.
- ``task.is_correct(prediction, y)``, ``task.error_rate(predictions, ys)``,
  ``task.solved(predictions, ys)``: the success criteria of the papers.
- ``task.readout``: ``"last"`` -- the prediction is read from the final step's state
  (adding, multiplication, temporal order: Pascanu's ``lastLinear``/``lastSoftmax``), or
  ``"every"`` -- one prediction per step, (T, output_size) (copy: Pascanu's ``softmax``).
"""

from __future__ import annotations

import abc
import inspect
import math
from typing import Any, ClassVar, Literal, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, Bool, Float, Int, PRNGKeyArray, PyTree

from ._checks import (
    Checked,
    check_choice,
    check_finite,
    check_float_array,
    check_float_dtype,
    check_int,
    check_key,
    check_not_plain,
    check_positive_int,
    check_range,
    describe,
    is_concrete,
)

Criterion = Literal["pascanu", "hochreiter"]

#: Pascanu et al. (2013): a regression sample is wrong if its squared error exceeds this.
PASCANU_SQUARED_ERROR_THRESHOLD = 0.04
#: Pascanu et al. (2013): a task is solved when the error rate is below this ...
PASCANU_SOLVED_ERROR_RATE = 0.01
#: ... on this many fresh test samples.
PASCANU_TEST_SIZE = 10_000
#: Hochreiter & Schmidhuber (1997): a regression sequence is correct if the absolute
#: error at its end is below this; solved when every test sequence is correct.
HOCHREITER_ABSOLUTE_ERROR_THRESHOLD = 0.04

_CRITERIA = ("pascanu", "hochreiter")


class SequenceTarget(NamedTuple):
    """The target of a task with one prediction per step (the copy task).

    - `labels`: (T,) int32 class of every step (the blank class where nothing is due).
    - `mask`: (T,) bool, ``True`` at the steps that carry loss and are checked for
      correctness.
    """

    labels: Int[Array, " T"]
    mask: Bool[Array, " T"]


# --------------------------------------------------------------------------- checks


def _prefix(where: str) -> str:
    return f"{where}: " if where else ""


def _check_value_scale(where: str, value_range: tuple[float, float], dtype: Any) -> None:
    """Values small enough that targets, their squares and products stay finite in `dtype`."""
    bound = float(jnp.finfo(dtype).max) ** 0.25 / 2
    if max(abs(v) for v in value_range) > bound:
        raise ValueError(
            f"{where}: `value_range` must lie within ±{bound:.3g} for dtype "
            f"{np.dtype(dtype).name} (so that the targets, their squares and the baseline "
            f"variance stay finite), got {value_range!r}; rescale the values."
        )


def _check_int_choice(where: str, name: str, value: Any, choices: tuple[int, ...]) -> int:
    value = check_int(name, value, minimum=None, where=where)
    if value not in choices:
        raise ValueError(
            f"{where}: `{name}` must be {' or '.join(map(str, choices))}, got {value}."
        )
    return value


def _check_options(where: str, cls: type, options: dict[str, Any], fixed: Any = ()) -> None:
    """Raise a ``TypeError`` listing the options of `cls` for an option it does not take."""
    params = inspect.signature(cls.__init__).parameters.values()
    accepted = [p.name for p in params if p.kind == p.KEYWORD_ONLY and p.name not in fixed]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise TypeError(
            f"{where}: unknown option(s) {unknown} for {cls.__name__}; its options are {accepted}."
        )


def _check_labels(
    where: str, name: str, labels: Any, shape: tuple[int, ...], classes: int
) -> Array:
    """Integer class labels of `shape`; concrete ones must lie in [0, classes)."""
    if isinstance(labels, (int, np.integer)) and not isinstance(labels, bool):
        labels = jnp.asarray(labels)
    check_not_plain(name, labels, where, f"an integer array of shape {shape}")
    if isinstance(labels, np.ndarray):  # NumPy labels are fine: work on them as jax arrays
        labels = jnp.asarray(labels)
    if not hasattr(labels, "dtype") or not jnp.issubdtype(labels.dtype, jnp.integer):
        raise TypeError(
            f"{where}: `{name}`: the class labels must have an integer dtype, "
            f"got {describe(labels)}."
        )
    if tuple(labels.shape) != shape:
        raise ValueError(
            f"{where}: `{name}` must be class labels of shape {shape}, got {describe(labels)}."
        )
    if is_concrete(labels):
        values = np.asarray(labels)
        bad = (values < 0) | (values >= classes)
        if bad.any():
            first = tuple(int(i) for i in np.unravel_index(np.argmax(bad), bad.shape))
            at = f" (at index {first})" if first else ""
            raise ValueError(
                f"{where}: `{name}` must hold class labels in [0, {classes}), got "
                f"{int(values[first])}{at}."
            )
    return labels


def _labels_valid(labels: Array, classes: int) -> Array:
    """Whether every label lies in [0, classes): the guard for traced labels."""
    return jnp.all((labels >= 0) & (labels < classes))


def _check_mask(where: str, name: str, mask: Any, shape: tuple[int, ...]) -> Array:
    """A bool mask of `shape`; a concrete one must select a step in every example."""
    if isinstance(mask, np.ndarray):  # a NumPy mask is fine: work on it as a jax array
        mask = jnp.asarray(mask)
    if not hasattr(mask, "dtype") or mask.dtype != jnp.bool_:
        raise TypeError(
            f"{where}: `{name}` must be a bool array of shape {shape}, got {describe(mask)}."
        )
    if tuple(mask.shape) != shape:
        raise ValueError(
            f"{where}: `{name}` must be a bool array of shape {shape}, got {describe(mask)}."
        )
    if is_concrete(mask) and not np.asarray(mask).any(axis=-1).all():
        raise ValueError(
            f"{where}: `{name}` selects no step in some example, so the loss would be 0/0; "
            "every example needs at least one step with mask True."
        )
    return mask


def _leading_size(where: str, name: str, tree: PyTree) -> int:
    check_not_plain(name, tree, where, "an array with a leading batch axis")
    leaves = jax.tree_util.tree_leaves(tree)
    if not leaves or any(not hasattr(x, "shape") or len(x.shape) == 0 for x in leaves):
        raise ValueError(
            f"{where}: `{name}` must be batched, with a leading batch axis, got {describe(tree)}."
        )
    sizes = {x.shape[0] for x in leaves}
    if len(sizes) != 1:
        raise ValueError(f"{where}: `{name}` leaves disagree on the batch size: {sorted(sizes)}.")
    return sizes.pop()


# --------------------------------------------------------------------------- base class


class AbstractTask(eqx.Module):
    """The common interface of rnngrad's synthetic tasks (see the module docstring).

    Concrete tasks: :class:`AddingTask`, :class:`MultiplicationTask`,
    :class:`TemporalOrderTask`, :class:`CopyTask`; build them by name with
    :func:`make_task`. Attributes every task has:

    - `name`: the task's name for :func:`make_task`.
    - `length`: T, the number of time steps of ``xs``.
    - `input_size`, `output_size`: the sizes of one input step and of one prediction.
    - `kind`: ``"regression"`` (squared error) or ``"classification"`` (softmax
      cross-entropy on logits).
    - `readout`: ``"last"`` (one prediction from the final step) or ``"every"`` (one
      prediction per step).
    - `prediction_shape`: the shape of ONE prediction: ``(output_size,)`` for
      ``readout="last"``, ``(T, output_size)`` for ``readout="every"``.
    - `baseline_loss`: the expected loss of the best input-independent prediction.
    """

    name: eqx.AbstractVar[str]
    length: eqx.AbstractVar[int]
    input_size: eqx.AbstractVar[int]
    output_size: eqx.AbstractVar[int]
    baseline_loss: eqx.AbstractVar[float]
    kind: eqx.AbstractClassVar[Literal["regression", "classification"]]
    readout: eqx.AbstractClassVar[Literal["last", "every"]]

    @abc.abstractmethod
    def sample(self, key: Checked[PRNGKeyArray]) -> tuple[Float[Array, "T input"], PyTree]:
        """One example ``(xs, y)`` from `key`; see the concrete task."""

    @property
    def prediction_shape(self) -> tuple[int, ...]:
        """The shape of one prediction."""
        if self.readout == "every":
            return (self.length, self.output_size)
        return (self.output_size,)

    def batch(self, key: Checked[PRNGKeyArray], batch_size: Checked[int]) -> tuple[Array, PyTree]:
        """`batch_size` independent examples: ``jax.vmap(self.sample)`` over split keys.

        **Arguments:** `key`: a ``jax.random`` key; `batch_size`: a positive int (static).

        **Returns:** ``(xs, ys)`` with a leading batch axis: ``xs`` is
        (batch_size, T, input_size), ``ys`` the targets of :meth:`sample` stacked.

        **Raises:** ``TypeError``/``ValueError`` for a `batch_size` that is not a positive
        int, or a `key` that is not one ``jax.random`` key.

        >>> import jax, rnngrad._tasks as tasks
        >>> xs, ys = tasks.AddingTask(20).batch(jax.random.key(0), 8)
        >>> xs.shape, ys.shape
        ((8, 20, 2), (8, 1))
        """
        where = f"{type(self).__name__}.batch"
        check_key("key", key, where=where)
        try:
            batch_size = check_positive_int("batch_size", batch_size)
        except (TypeError, ValueError) as err:
            raise type(err)(f"{where}: {err}") from None
        return jax.vmap(self.sample)(jax.random.split(key, batch_size))

    def _target(self, where: str, name: str, y: Any, batch: tuple[int, ...] = ()) -> Any:
        """Check a target `y` of :meth:`sample` (a batch of them with leading `batch`).

        Shapes and dtypes always; concrete values too: finite regression targets, class
        labels in [0, output_size), masks that select a step.
        """
        if self.kind == "regression":
            check_not_plain(name, y, where, f"an array of shape {batch + self.prediction_shape}")
            if not hasattr(y, "dtype") or not (
                jnp.issubdtype(y.dtype, jnp.floating) or jnp.issubdtype(y.dtype, jnp.integer)
            ):
                raise TypeError(f"{where}: `{name}` must be a real array, got {describe(y)}.")
            if tuple(y.shape) != batch + self.prediction_shape:
                raise ValueError(
                    f"{where}: `{name}` must have shape {batch + self.prediction_shape} (the "
                    f"target of {type(self).__name__}.sample), got {describe(y)}."
                )
            try:
                check_finite(name, y)
            except ValueError as err:
                raise ValueError(f"{where}: {err}") from None
            return y
        if self.readout == "last":
            return _check_labels(where, name, y, batch, self.output_size)
        if not (hasattr(y, "labels") and hasattr(y, "mask")):
            raise TypeError(
                f"{where}: `{name}` must be a SequenceTarget(labels, mask), as "
                f"{type(self).__name__}.sample returns, got {describe(y)}."
            )
        shape = batch + (self.length,)
        labels = _check_labels(where, f"{name}.labels", y.labels, shape, self.output_size)
        return SequenceTarget(labels, _check_mask(where, f"{name}.mask", y.mask, shape))

    def loss(self, prediction: Checked[Float[Array, "..."]], y: PyTree) -> Float[Array, ""]:
        """The training loss of ONE example.

        - regression: the squared error summed over outputs, ``Σ (prediction - y)²``
          (Pascanu's ``lastLinear`` cost before the batch mean); with ``readout="every"``
          its mean over the steps;
        - classification with ``readout="last"``: softmax cross-entropy of the logits
          `prediction` (output_size,) with the integer class `y`;
        - ``readout="every"``: the mean softmax cross-entropy over the steps where
          ``y.mask`` is true; `prediction` is (T, output_size).

        Batches: ``jnp.mean(jax.vmap(task.loss)(predictions, ys))``.

        A non-finite `prediction` (a diverged model) gives a non-finite loss.

        **Raises:** ``ValueError``/``TypeError`` for a prediction of the wrong shape or a
        non-floating dtype, a target `y` of another shape or dtype than :meth:`sample`
        returns (never broadcast), and, for a concrete `y`, a NaN/inf regression target,
        a class label outside [0, output_size) or a mask without any True step. Inside
        ``jit``/``vmap`` the values of `y` are unknown: an out-of-range label then gives a
        NaN loss (never a wrapped-around value), an all-False mask NaN (0/0).
        """
        where = f"{type(self).__name__}.loss"
        prediction = check_float_array(
            "prediction", prediction, where=where, shape=self.prediction_shape
        )
        y = self._target(where, "y", y)
        if self.kind == "regression":
            diff = prediction - y.astype(prediction.dtype)
            if self.readout == "every":  # the mean over steps of the per-step squared error
                return jnp.sum(diff * diff) / self.length
            return jnp.sum(diff * diff)
        labels = y.labels if self.readout == "every" else y
        per_step = optax.softmax_cross_entropy_with_integer_labels(prediction, labels)
        if self.readout == "last":
            value = per_step
        else:
            weights = y.mask.astype(per_step.dtype)
            value = jnp.sum(weights * per_step) / jnp.sum(weights)
        nan = jnp.asarray(jnp.nan, value.dtype)
        return jnp.where(_labels_valid(labels, self.output_size), value, nan)

    def is_correct(
        self,
        prediction: Checked[Float[Array, "..."]],
        y: PyTree,
        *,
        criterion: Checked[Criterion] = "pascanu",
    ) -> Bool[Array, ""]:
        """Whether ONE example is solved, by the criterion of the paper.

        - regression, ``criterion="pascanu"``: correct unless the squared error
          ``Σ (prediction - y)²`` exceeds 0.04 (Pascanu et al. 2013);
          ``criterion="hochreiter"``: correct if the absolute error is below 0.04
          (Hochreiter & Schmidhuber 1997), a 5x stricter threshold on the error.
        - classification: correct if the argmax of the logits is the class (for
          ``readout="every"``: at every step where ``y.mask`` is true, Pascanu's
          ``report="all"``); both criteria agree.

        A NaN prediction is never correct.

        **Returns:** a bool scalar.

        **Raises:** ``ValueError`` for an unknown `criterion` (``TypeError`` for a
        non-string one), and as :meth:`loss` for the `prediction` and the target `y`
        (inside ``jit``, an out-of-range label is never correct).
        """
        where = f"{type(self).__name__}.is_correct"
        check_choice("criterion", criterion, _CRITERIA, where=where)
        prediction = check_float_array(
            "prediction", prediction, where=where, shape=self.prediction_shape
        )
        y = self._target(where, "y", y)
        if self.kind == "regression":
            diff = prediction - y.astype(prediction.dtype)
            if criterion == "pascanu":
                return jnp.sum(diff * diff) <= PASCANU_SQUARED_ERROR_THRESHOLD
            return jnp.max(jnp.abs(diff)) < HOCHREITER_ABSOLUTE_ERROR_THRESHOLD
        labels = y.labels if self.readout == "every" else y
        hits = jnp.argmax(prediction, axis=-1).astype(labels.dtype) == labels
        if self.readout == "last":
            return hits
        return jnp.all(hits | ~y.mask)

    def error_rate(
        self,
        predictions: Checked[Float[Array, "batch ..."]],
        ys: PyTree,
        *,
        criterion: Checked[Criterion] = "pascanu",
    ) -> Float[Array, ""]:
        """The fraction of examples in a batch that :meth:`is_correct` rejects.

        **Arguments:** `predictions`: (B, *prediction_shape); `ys`: the targets with the
        same leading batch axis (as from :meth:`batch`); `criterion`: ``"pascanu"`` or
        ``"hochreiter"`` (see :meth:`is_correct`).

        **Returns:** a scalar in [0, 1].

        **Raises:** ``ValueError`` for mismatched batch sizes or prediction shapes, and as
        :meth:`is_correct` for `ys` (every example's target).

        >>> import jax.numpy as jnp, rnngrad._tasks as tasks
        >>> task = tasks.AddingTask(20)
        >>> ys = jnp.array([[1.0], [0.5]])
        >>> float(task.error_rate(jnp.array([[1.1], [0.9]]), ys))  # errors² 0.01, 0.16
        0.5
        """
        where = f"{type(self).__name__}.error_rate"
        check_choice("criterion", criterion, _CRITERIA, where=where)
        size = _leading_size(where, "predictions", predictions)
        if _leading_size(where, "ys", ys) != size:
            raise ValueError(
                f"{where}: `predictions` has batch size {size} but `ys` has "
                f"{_leading_size(where, 'ys', ys)}."
            )
        check_float_array(
            "predictions", predictions, where=where, shape=(size, *self.prediction_shape)
        )
        ys = self._target(where, "ys", ys, batch=(size,))
        correct = jax.vmap(lambda p, y: self.is_correct(p, y, criterion=criterion))(predictions, ys)
        return jnp.mean((~correct).astype(predictions.dtype))

    def solved(
        self,
        predictions: Checked[Float[Array, "batch ..."]],
        ys: PyTree,
        *,
        criterion: Checked[Criterion] = "pascanu",
    ) -> Bool[Array, ""]:
        """Whether the task counts as solved on a test batch.

        ``criterion="pascanu"`` (Pascanu, Mikolov & Bengio 2013): the :meth:`error_rate`
        is below 1 %; the paper uses 10,000 fresh samples (``PASCANU_TEST_SIZE``), drawn
        with a key never used in training. ``criterion="hochreiter"`` (Hochreiter &
        Schmidhuber 1997): every test sequence is correct (for regression: absolute
        error below 0.04).

        **Returns:** a bool scalar (jittable).

        **Raises:** as :meth:`error_rate`.
        """
        rate = self.error_rate(predictions, ys, criterion=criterion)
        if criterion == "pascanu":
            return rate < PASCANU_SOLVED_ERROR_RATE
        return rate == 0


# --------------------------------------------------------------------------- adding & product


def _marker_min_length(task: str) -> str:
    return (
        f"the first marker lies in [0, floor(T/10)), which needs T >= 10; {task} with "
        "T = 10 has marker windows [0, 1) and [1, 5)"
    )


_MARKER_WINDOWS = {
    # (first marker in [0, a), second in [a, b)) as fractions of T, floored.
    "hochreiter": (10, 2),  # [0, T/10), [T/10, T/2): Hochreiter & Schmidhuber; Pascanu
    "pascanu": (10, 2),  # the same windows, under the name of the paper that generates them
    "arjovsky": (2, 1),  # [0, T/2), [T/2, T): Arjovsky, Shah & Bengio 2016
}


def marker_windows(variant: str, length: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """The two marker windows ``((0, a), (a, b))`` (half-open) of a marker-task variant."""
    first, second = _MARKER_WINDOWS[variant]
    return (0, length // first), (length // first, length // second)


def _marked_pair(
    key: PRNGKeyArray,
    length: int,
    low: float,
    high: float,
    dtype: Any,
    variant: str = "hochreiter",
) -> tuple[Float[Array, "T 2"], Float[Array, ""], Float[Array, ""]]:
    """Values U(low, high) in channel 0, two markers in channel 1; return (xs, a, b)."""
    k_values, k_first, k_second = jax.random.split(key, 3)
    values = jax.random.uniform(k_values, (length,), dtype, low, high)
    (lo1, hi1), (lo2, hi2) = marker_windows(variant, length)
    first = jax.random.randint(k_first, (), lo1, hi1)
    second = jax.random.randint(k_second, (), lo2, hi2)
    markers = jnp.zeros((length,), dtype).at[first].set(1).at[second].set(1)
    return jnp.stack([values, markers], axis=-1), values[first], values[second]


class AddingTask(AbstractTask):
    """The adding problem, in the marker windows of the paper it follows (`variant`).

    Input step t is ``(value_t, marker_t)``: channel 0 holds i.i.d. ``U(low, high)``
    values (default U(0, 1)), channel 1 is 0 except for exactly two 1s, each at a uniform
    position in its window (integer arithmetic):

    - ``variant="hochreiter"`` (default): the first in ``[0, floor(T/10))``, the second in
      ``[floor(T/10), floor(T/2))``: Hochreiter & Schmidhuber 1997 (Experiment 4) as
      Pascanu, Mikolov & Bengio 2013 generate it. Both marked values lie at least T/2
      steps before the readout: the harder task.
    - ``variant="pascanu"``: the same windows as ``"hochreiter"`` (Pascanu et al.'s code
      generates them; the name is kept so that a config can cite the paper it follows).
    - ``variant="arjovsky"``: the first in ``[0, floor(T/2))``, the second in
      ``[floor(T/2), T)``: Arjovsky, Shah & Bengio 2016 (unitary RNNs; their code draws
      the first in [0, T/2) and adds T/2 for the second), the form most later papers
      use. The second value is often only a few steps back.

    Le, Jaitly & Hinton 2015 (the IRNN) describe two marked entries but their windows
    could not be verified from the paper's text here, so no variant claims to be theirs.

    With ``a, b`` the marked values the target is ``a + b`` (``target="sum"``) or
    ``(a + b)/2`` (``target="mean"``, Pascanu's code). The prediction is read from the
    final step (``readout="last"``).

    Differences from the sources: Pascanu's generator also draws T in [T, 1.1 T) per
    batch and puts the marker in channel 0; here T is fixed (the shapes are static; vary
    T yourself) and the value comes first. Hochreiter's version draws values in
    [-1, 1] (``value_range=(-1.0, 1.0)``) and a target of ``0.5 + (a + b)/4``.

    **Arguments:**

    - `length`: T >= 10 for ``"hochreiter"``/``"pascanu"`` (the first window
      [0, floor(T/10)) must be non-empty), T >= 2 for ``"arjovsky"``.
    - `variant`: ``"hochreiter"`` (default), ``"pascanu"`` (the same windows) or
      ``"arjovsky"`` (keyword only, as all options).
    - `target`: ``"sum"`` (default) or ``"mean"``.
    - `value_range`: ``(low, high)`` of the uniform values, default ``(0.0, 1.0)``.
    - `dtype`: float dtype of ``xs`` and ``y``; default float64 under x64, else float32.

    **Attributes:** ``input_size = 2``, ``output_size = 1``, ``kind = "regression"``;
    ``target_mean`` = E[y]; ``baseline_loss`` = Var(y), the MSE of always predicting
    E[y], from the moments of U(low, high): Var(a + b) = 2 (high - low)²/12 (= 1/6 for
    U(0, 1)), Var((a + b)/2) = (high - low)²/24.

    **Raises:** ``TypeError``/``ValueError`` for a bad `length` (below the variant's
    minimum), `variant` (``"sum"``/``"mean"``, its meaning before rnngrad 0.3: the message
    says to use `target`), `target`, `value_range` (not a finite pair with low < high, or
    so large that the targets' squares overflow `dtype`) or `dtype`.

    >>> import jax, rnngrad._tasks as tasks
    >>> task = tasks.AddingTask(50)
    >>> xs, y = task.sample(jax.random.key(0))
    >>> xs.shape, y.shape, round(task.baseline_loss, 4)
    ((50, 2), (1,), 0.1667)
    """

    length: int = eqx.field(static=True)
    variant: Literal["hochreiter", "pascanu", "arjovsky"] = eqx.field(static=True)
    target: Literal["sum", "mean"] = eqx.field(static=True)
    value_range: tuple[float, float] = eqx.field(static=True)
    dtype: Any = eqx.field(static=True)

    kind: ClassVar[Literal["regression"]] = "regression"
    readout: ClassVar[Literal["last"]] = "last"

    @property
    def name(self) -> str:
        return "adding"

    def __init__(
        self,
        length: Checked[int],
        *,
        variant: Checked[Literal["hochreiter", "pascanu", "arjovsky"]] = "hochreiter",
        target: Checked[Literal["sum", "mean"]] = "sum",
        value_range: Checked[tuple[float, float]] = (0.0, 1.0),
        dtype: Any = None,
    ):
        if isinstance(variant, str) and variant in ("sum", "mean"):
            raise ValueError(
                f"AddingTask: `variant` names the paper's marker windows ('hochreiter', "
                f"'pascanu' or 'arjovsky'); the form of the target moved to `target`: use "
                f"target={variant!r}."
            )
        self.variant = check_choice("variant", variant, tuple(_MARKER_WINDOWS), where="AddingTask")
        first = _MARKER_WINDOWS[self.variant][0]  # T >= a: [0, floor(T/a)) is not empty
        why = (
            _marker_min_length("adding") if first == 10
            else "each half of the sequence holds one marker"
        )  # fmt: skip
        self.length = check_int("length", length, where="AddingTask", minimum=first, why=why)
        self.target = check_choice("target", target, ("sum", "mean"), where="AddingTask")
        self.value_range = check_range("value_range", value_range, where="AddingTask")
        self.dtype = check_float_dtype("dtype", dtype, where="AddingTask")
        _check_value_scale("AddingTask", self.value_range, self.dtype)

    @property
    def input_size(self) -> int:
        return 2

    @property
    def output_size(self) -> int:
        return 1

    @property
    def windows(self) -> tuple[tuple[int, int], tuple[int, int]]:
        """The half-open position windows ``((0, a), (a, b))`` of the two markers."""
        return marker_windows(self.variant, self.length)

    @property
    def target_mean(self) -> float:
        """E[y]: ``low + high`` for the sum, ``(low + high)/2`` for the mean."""
        low, high = self.value_range
        return (low + high) if self.target == "sum" else (low + high) / 2

    @property
    def baseline_loss(self) -> float:
        """Var(y) = E[(y - E[y])²], from Var(U(low, high)) = (high - low)²/12."""
        low, high = self.value_range
        var_value = (high - low) ** 2 / 12
        var_sum = 2 * var_value  # a, b independent
        return var_sum if self.target == "sum" else var_sum / 4

    def sample(self, key: Checked[PRNGKeyArray]) -> tuple[Float[Array, "T 2"], Float[Array, " 1"]]:
        """One example.

        **Arguments:** `key`: ONE ``jax.random`` key.

        **Returns:** ``xs`` (T, 2) ``[value, marker]`` per step, and ``y`` (1,).

        **Raises:** ``TypeError``/``ValueError`` if `key` is not one key.
        """
        check_key("key", key, where="AddingTask.sample")
        low, high = self.value_range
        xs, a, b = _marked_pair(key, self.length, low, high, self.dtype, self.variant)
        y = a + b if self.target == "sum" else (a + b) / 2
        return xs, y[None]


class MultiplicationTask(AbstractTask):
    """The multiplication problem (Hochreiter & Schmidhuber 1997, Experiment 5;
    Pascanu et al. 2013): the adding problem's inputs, target ``a · b``.

    Inputs and marker windows exactly as :class:`AddingTask`: channel 0 holds
    ``U(low, high)`` values, channel 1 two markers, in ``[0, floor(T/10))`` and
    ``[floor(T/10), floor(T/2))``. Prediction read from the final step.

    **Arguments:** `length`: T >= 10; `value_range` (default ``(0.0, 1.0)``) and `dtype`
    as in :class:`AddingTask` (keyword only).

    **Attributes:** ``input_size = 2``, ``output_size = 1``, ``kind = "regression"``;
    ``target_mean`` = E[a]²; ``baseline_loss`` = Var(a·b) = E[a²]² - E[a]⁴ for independent
    a, b (= 1/9 - 1/16 = 7/144 for U(0, 1)).

    **Raises:** ``TypeError``/``ValueError`` for a bad `length` (T < 10), `value_range`
    (as in :class:`AddingTask`) or `dtype`.

    >>> import jax, rnngrad._tasks as tasks
    >>> xs, y = tasks.MultiplicationTask(30).sample(jax.random.key(1))
    >>> xs.shape, y.shape
    ((30, 2), (1,))
    """

    length: int = eqx.field(static=True)
    value_range: tuple[float, float] = eqx.field(static=True)
    dtype: Any = eqx.field(static=True)

    kind: ClassVar[Literal["regression"]] = "regression"
    readout: ClassVar[Literal["last"]] = "last"

    @property
    def name(self) -> str:
        return "multiplication"

    def __init__(
        self,
        length: Checked[int],
        *,
        value_range: Checked[tuple[float, float]] = (0.0, 1.0),
        dtype: Any = None,
    ):
        self.length = check_int(
            "length",
            length,
            where="MultiplicationTask",
            minimum=10,
            why=_marker_min_length("multiplication"),
        )
        self.value_range = check_range("value_range", value_range, where="MultiplicationTask")
        self.dtype = check_float_dtype("dtype", dtype, where="MultiplicationTask")
        _check_value_scale("MultiplicationTask", self.value_range, self.dtype)

    @property
    def input_size(self) -> int:
        return 2

    @property
    def output_size(self) -> int:
        return 1

    def _moments(self) -> tuple[float, float]:
        low, high = self.value_range
        mean = (low + high) / 2
        return mean, (high - low) ** 2 / 12 + mean**2

    @property
    def target_mean(self) -> float:
        """E[a·b] = E[a]²."""
        mean, _ = self._moments()
        return mean**2

    @property
    def baseline_loss(self) -> float:
        """Var(a·b) = E[a²]E[b²] - (E[a]E[b])² for independent a, b."""
        mean, second = self._moments()
        return second**2 - mean**4

    def sample(self, key: Checked[PRNGKeyArray]) -> tuple[Float[Array, "T 2"], Float[Array, " 1"]]:
        """One example: ``xs`` (T, 2), ``y`` (1,) = a·b. See :meth:`AddingTask.sample`."""
        check_key("key", key, where="MultiplicationTask.sample")
        low, high = self.value_range
        xs, a, b = _marked_pair(key, self.length, low, high, self.dtype)
        return xs, (a * b)[None]


# --------------------------------------------------------------------------- temporal order


class TemporalOrderTask(AbstractTask):
    """The temporal order problem (Hochreiter & Schmidhuber 1997, Experiments 6a/6b;
    Pascanu et al. 2013, code ``tempOrder.py`` and ``tempOrder3bit.py``).

    Each step is one of 6 symbols, one-hot: channels 0 and 1 are the relevant symbols
    X and Y, channels 2-5 the distractors a, b, c, d. ``bits`` relevant symbols, each X
    or Y with probability 1/2, sit at uniform positions in windows of width
    ``w = floor(T/10)``; every other step is a uniform distractor. Windows (Pascanu's
    code, integer arithmetic; for T a multiple of 10 they are exactly the fractions):

    - ``bits=2``: ``[w, 2w)`` and ``[floor(T/2), floor(T/2) + w)``, i.e. [0.1T, 0.2T)
      and [0.5T, 0.6T); 4 classes.
    - ``bits=3``: ``[w, 2w)``, ``[floor(3T/10), floor(3T/10) + w)`` and
      ``[floor(6T/10), floor(6T/10) + w)``, i.e. [0.1T, 0.2T), [0.3T, 0.4T),
      [0.6T, 0.7T); 8 classes. (Hochreiter's 6b, T in [100, 110], used
      [10, 20], [33, 43], [66, 76].)

    The class is the sequence of relevant symbols read as a binary number with X = 0,
    Y = 1 and the FIRST symbol the most significant bit: XX = 0, XY = 1, YX = 2, YY = 3
    (``class_names``). (Pascanu's code uses the reverse bit order; Hochreiter's also
    adds start/end symbols E and B, omitted here as in Pascanu's code.) The logits are
    read from the final step.

    **Arguments:**

    - `length`: T >= 10 (the windows of width floor(T/10) must be non-empty).
    - `bits`: 2 (default) or 3 (keyword only).
    - `dtype`: float dtype of ``xs``.

    **Attributes:** ``input_size = 6``, ``output_size = 2**bits``,
    ``kind = "classification"``; ``baseline_loss = log(2**bits)``, the cross-entropy of
    the best constant prediction (the class prior, uniform).

    **Raises:** ``TypeError``/``ValueError`` for a bad `length` (T < 10), `bits` (an
    int, 2 or 3) or `dtype`.

    >>> import jax, rnngrad._tasks as tasks
    >>> task = tasks.TemporalOrderTask(40, bits=3)
    >>> xs, y = task.sample(jax.random.key(0))
    >>> xs.shape, y.shape, task.output_size
    ((40, 6), (), 8)
    """

    length: int = eqx.field(static=True)
    bits: int = eqx.field(static=True)
    dtype: Any = eqx.field(static=True)

    kind: ClassVar[Literal["classification"]] = "classification"
    readout: ClassVar[Literal["last"]] = "last"
    symbol_names: ClassVar[tuple[str, ...]] = ("X", "Y", "a", "b", "c", "d")

    def __init__(self, length: Checked[int], *, bits: Checked[int] = 2, dtype: Any = None):
        self.bits = _check_int_choice("TemporalOrderTask", "bits", bits, (2, 3))
        self.length = check_int(
            "length",
            length,
            where="TemporalOrderTask",
            minimum=10,
            why="the relevant-symbol windows have width floor(T/10), which needs T >= 10",
        )
        self.dtype = check_float_dtype("dtype", dtype, where="TemporalOrderTask")

    @property
    def name(self) -> str:
        return "temporal_order" if self.bits == 2 else "temporal_order_3bit"

    @property
    def input_size(self) -> int:
        return 6

    @property
    def output_size(self) -> int:
        return 2**self.bits

    @property
    def windows(self) -> tuple[tuple[int, int], ...]:
        """The half-open position windows ``(start, stop)`` of the relevant symbols."""
        t, w = self.length, self.length // 10
        starts = (w, t // 2) if self.bits == 2 else (w, 3 * t // 10, 6 * t // 10)
        return tuple((s, s + w) for s in starts)

    @property
    def class_names(self) -> tuple[str, ...]:
        """Class names in label order: ``("XX", "XY", "YX", "YY")`` for 2 bits."""
        return tuple(
            "".join("XY"[(c >> (self.bits - 1 - i)) & 1] for i in range(self.bits))
            for c in range(self.output_size)
        )

    @property
    def baseline_loss(self) -> float:
        """log(number of classes): the classes are uniform."""
        return math.log(self.output_size)

    def sample(self, key: Checked[PRNGKeyArray]) -> tuple[Float[Array, "T 6"], Int[Array, ""]]:
        """One example.

        **Arguments:** `key`: ONE ``jax.random`` key.

        **Returns:** ``xs`` (T, 6) one-hot symbols and the class ``y``, an int32 scalar
        in [0, 2**bits).

        **Raises:** ``TypeError``/``ValueError`` if `key` is not one key.
        """
        check_key("key", key, where="TemporalOrderTask.sample")
        k_symbols, k_positions, k_values = jax.random.split(key, 3)
        starts = jnp.asarray([s for s, _ in self.windows], jnp.int32)
        width = self.length // 10
        symbols = jax.random.randint(k_symbols, (self.length,), 2, 6, jnp.int32)
        positions = starts + jax.random.randint(k_positions, (self.bits,), 0, width, jnp.int32)
        values = jax.random.randint(k_values, (self.bits,), 0, 2, jnp.int32)
        symbols = symbols.at[positions].set(values)
        weights = jnp.asarray([2 ** (self.bits - 1 - i) for i in range(self.bits)], jnp.int32)
        return jax.nn.one_hot(symbols, 6, dtype=self.dtype), values @ weights


# --------------------------------------------------------------------------- copy


class CopyTask(AbstractTask):
    """The copy (memorisation) task (Hochreiter & Schmidhuber 1997; Arjovsky, Shah &
    Bengio 2016; Pascanu et al. 2013's ``memorization.py``).

    With K = ``pattern_length``, n = ``n_symbols`` and ``delay = T - 2K - 1``, the input
    sequence of T steps is (one-hot over n + 2 channels: symbols 0..n-1, blank n,
    delimiter n + 1):

    - steps ``[0, K)``: the pattern, K i.i.d. uniform symbols;
    - steps ``[K, K + delay)``: blank;
    - step ``K + delay``: the delimiter (the "go" marker);
    - steps ``[K + delay + 1, T)``: blank, while the pattern is to be output.

    The target has n + 1 classes (symbols and blank): blank for the first T - K steps,
    the pattern in the last K. The lag between seeing symbol i and reproducing it is
    ``delay + K + 1`` for every i. This is Arjovsky et al.'s layout with their T equal to
    ``delay + 1`` (their defaults: K = 10, n = 8, total T + 20 steps; built by
    :meth:`CopyTask.arjovsky`). Pascanu's
    ``memorization.py`` (n = 5 values) instead puts the delimiter on the first output step.

    One prediction per step (``readout="every"``, logits (T, n + 1)); ``loss_steps``
    chooses the steps that carry loss and are checked, given as ``y.mask``:
    ``"output"`` (default) the last K steps, ``"all"`` every step (Arjovsky's loss,
    Pascanu's ``report="all"`` error).

    **Arguments:**

    - `length`: T >= 2K + 1 (the pattern, the delimiter and the K output steps).
      Use :meth:`CopyTask.from_delay` to give the delay instead.
    - `pattern_length`: K >= 1, default 10 (keyword only, as all options).
    - `n_symbols`: n >= 2, default 8.
    - `loss_steps`: ``"output"`` or ``"all"``.
    - `dtype`: float dtype of ``xs``.

    **Attributes:** ``input_size = n + 2``, ``output_size = n + 1``,
    ``kind = "classification"``, ``delay``; ``baseline_loss``: the loss of the
    memoryless strategy (blank until the output steps, then uniform over the n symbols):
    ``log n`` for ``loss_steps="output"``, ``K log n / T`` for ``"all"``.

    **Raises:** ``TypeError``/``ValueError`` for a bad `length` (T < 2K + 1),
    `pattern_length`, `n_symbols`, `loss_steps` or `dtype`.

    >>> import jax, rnngrad._tasks as tasks
    >>> task = tasks.CopyTask.from_delay(5, pattern_length=3, n_symbols=4)
    >>> xs, y = task.sample(jax.random.key(0))
    >>> task.length, xs.shape, y.labels.shape, int(y.mask.sum())
    (12, (12, 6), (12,), 3)
    """

    length: int = eqx.field(static=True)
    pattern_length: int = eqx.field(static=True)
    n_symbols: int = eqx.field(static=True)
    loss_steps: Literal["output", "all"] = eqx.field(static=True)
    dtype: Any = eqx.field(static=True)

    kind: ClassVar[Literal["classification"]] = "classification"
    readout: ClassVar[Literal["every"]] = "every"

    @property
    def name(self) -> str:
        return "copy"

    def __init__(
        self,
        length: Checked[int],
        *,
        pattern_length: Checked[int] = 10,
        n_symbols: Checked[int] = 8,
        loss_steps: Checked[Literal["output", "all"]] = "output",
        dtype: Any = None,
    ):
        self.pattern_length = check_int(
            "pattern_length", pattern_length, where="CopyTask", minimum=1
        )
        self.n_symbols = check_int(
            "n_symbols",
            n_symbols,
            where="CopyTask",
            minimum=2,
            why="with one symbol there is nothing to remember",
        )
        k = self.pattern_length
        self.length = check_int(
            "length",
            length,
            where="CopyTask",
            minimum=2 * k + 1,
            why=f"2 * pattern_length + 1 = {2 * k + 1}: the pattern, the delimiter and the "
            f"{k} output steps, with delay = T - {2 * k + 1} >= 0 blanks",
        )
        self.loss_steps = check_choice(
            "loss_steps", loss_steps, ("output", "all"), where="CopyTask"
        )
        self.dtype = check_float_dtype("dtype", dtype, where="CopyTask")

    @classmethod
    def from_delay(cls, delay: Checked[int], **options: Any) -> CopyTask:
        """The copy task with `delay` blank steps between the pattern and the delimiter.

        ``T = delay + 2 * pattern_length + 1``; `options` as for :class:`CopyTask`.

        **Raises:** ``TypeError``/``ValueError`` for a `delay` that is not an int >= 0,
        ``TypeError`` for an option :class:`CopyTask` does not take (listing its
        options), and as :class:`CopyTask`.
        """
        where = "CopyTask.from_delay"
        delay = check_int("delay", delay, minimum=0, where=where)
        _check_options(where, cls, options)
        k = check_int("pattern_length", options.get("pattern_length", 10), minimum=1, where=where)
        return cls(delay + 2 * k + 1, **options)

    @classmethod
    def arjovsky(cls, blank_steps: Checked[int], *, dtype: Any = None) -> CopyTask:
        """The copy task exactly as Arjovsky, Shah & Bengio 2016 define it, for their T.

        Their sequence of ``T + 20`` steps: 10 symbols drawn from an alphabet of 8, then
        ``T - 1`` blanks, the delimiter, and 10 more blanks while the 10 symbols are to
        be output; the loss is the cross-entropy averaged over all ``T + 20`` steps
        (``loss_steps="all"``), so the memoryless baseline is ``10 log 8 / (T + 20)``.
        Equal to ``CopyTask(T + 20, pattern_length=10, n_symbols=8, loss_steps="all")``.

        **Arguments:** `blank_steps`: their T >= 1 (our ``delay = T - 1``); `dtype` as for
        :class:`CopyTask`.

        **Raises:** ``TypeError``/``ValueError`` for a `blank_steps` that is not an
        int >= 1, and as :class:`CopyTask`.

        >>> import math, rnngrad._tasks as tasks
        >>> task = tasks.CopyTask.arjovsky(100)
        >>> task.length, task.delay, math.isclose(task.baseline_loss, 10 * math.log(8) / 120)
        (120, 99, True)
        """
        where = "CopyTask.arjovsky"
        t = check_int("blank_steps", blank_steps, minimum=1, where=where)
        return cls(t + 20, pattern_length=10, n_symbols=8, loss_steps="all", dtype=dtype)

    @property
    def delay(self) -> int:
        """Blank steps between the end of the pattern and the delimiter: T - 2K - 1."""
        return self.length - 2 * self.pattern_length - 1

    @property
    def input_size(self) -> int:
        return self.n_symbols + 2

    @property
    def output_size(self) -> int:
        return self.n_symbols + 1

    @property
    def blank(self) -> int:
        """The blank symbol (input channel and output class)."""
        return self.n_symbols

    @property
    def delimiter(self) -> int:
        """The delimiter (go) symbol's input channel."""
        return self.n_symbols + 1

    @property
    def baseline_loss(self) -> float:
        """Cross-entropy of the memoryless strategy: ``log n`` per output step."""
        per_output_step = math.log(self.n_symbols)
        if self.loss_steps == "output":
            return per_output_step
        return self.pattern_length * per_output_step / self.length

    def sample(self, key: Checked[PRNGKeyArray]) -> tuple[Float[Array, "T input"], SequenceTarget]:
        """One example.

        **Arguments:** `key`: ONE ``jax.random`` key.

        **Returns:** ``xs`` (T, n + 2) one-hot, and a :class:`SequenceTarget` with
        ``labels`` (T,) int32 and ``mask`` (T,) bool.

        **Raises:** ``TypeError``/``ValueError`` if `key` is not one key.
        """
        check_key("key", key, where="CopyTask.sample")
        t, k = self.length, self.pattern_length
        pattern = jax.random.randint(key, (k,), 0, self.n_symbols, jnp.int32)
        inputs = jnp.full((t,), self.blank, jnp.int32)
        inputs = inputs.at[:k].set(pattern).at[k + self.delay].set(self.delimiter)
        labels = jnp.full((t,), self.blank, jnp.int32).at[t - k :].set(pattern)
        if self.loss_steps == "output":
            mask = jnp.arange(t) >= t - k
        else:
            mask = jnp.ones((t,), bool)
        xs = jax.nn.one_hot(inputs, self.input_size, dtype=self.dtype)
        return xs, SequenceTarget(labels, mask)


# --------------------------------------------------------------------------- flip-flop


class FlipFlopTask(AbstractTask):
    """The n-bit flip-flop (Sussillo & Barak 2013, section 3.1): remember the last pulse.

    Each of the n input channels is 0 except for occasional pulses of ±1 (probability
    `pulse_prob` per step and channel, signs ±1 with equal probability); output channel i
    must hold the sign of the last pulse on input i, at every step. Every channel pulses at
    step 0 here, so the target is always ±1 and a trained network needs 2ⁿ memories (the
    paper's 8 stable fixed points for n = 3); the paper starts from an unspecified state.

    Regression at every step (``readout="every"``): the loss is the mean over steps of
    ``Σ_i (prediction_i - target_i)²``; a sequence is correct when every step has every
    output on the right side of 0 within 1 of its target (``|prediction - target| < 1``).

    **Arguments:** `length`: T >= 2; `n_bits`: n >= 1, default 3; `pulse_prob`: in (0, 1),
    default 0.05 (keyword only); `dtype`: float dtype of ``xs`` and targets.

    **Attributes:** ``input_size = output_size = n_bits``, ``kind = "regression"``;
    ``baseline_loss = n_bits`` (predicting 0 everywhere: E[target²] = 1 per channel).

    **Raises:** ``TypeError``/``ValueError`` for a bad `length`, `n_bits`, `pulse_prob`
    or `dtype`.

    >>> import jax, rnngrad as rg
    >>> xs, ys = rg.FlipFlopTask(50).sample(jax.random.key(0))
    >>> xs.shape, ys.shape, bool((ys[0] == xs[0]).all())
    ((50, 3), (50, 3), True)
    """

    length: int = eqx.field(static=True)
    n_bits: int = eqx.field(static=True)
    pulse_prob: float = eqx.field(static=True)
    dtype: Any = eqx.field(static=True)

    kind: ClassVar[Literal["regression"]] = "regression"
    readout: ClassVar[Literal["every"]] = "every"

    @property
    def name(self) -> str:
        return "flipflop"

    def __init__(
        self,
        length: Checked[int],
        *,
        n_bits: Checked[int] = 3,
        pulse_prob: Checked[float] = 0.05,
        dtype: Any = None,
    ):
        who = "FlipFlopTask"
        self.length = check_int("length", length, where=who, minimum=2)
        self.n_bits = check_int("n_bits", n_bits, where=who, minimum=1)
        if isinstance(pulse_prob, bool) or not isinstance(pulse_prob, (int, float)):
            raise TypeError(
                f"{who}: `pulse_prob` must be a float in (0, 1), got {describe(pulse_prob)}."
            )
        if not 0.0 < float(pulse_prob) < 1.0:
            raise ValueError(f"{who}: `pulse_prob` must lie in (0, 1), got {pulse_prob}.")
        self.pulse_prob = float(pulse_prob)
        self.dtype = check_float_dtype("dtype", dtype, where=who)

    @property
    def input_size(self) -> int:
        return self.n_bits

    @property
    def output_size(self) -> int:
        return self.n_bits

    @property
    def baseline_loss(self) -> float:
        """The loss of predicting 0 at every step: n_bits (E[target²] = 1 per channel)."""
        return float(self.n_bits)

    def sample(
        self, key: Checked[PRNGKeyArray]
    ) -> tuple[Float[Array, "T bits"], Float[Array, "T bits"]]:
        """One example: pulses ``xs`` (T, n) in {-1, 0, 1} and the held signs (T, n)."""
        check_key("key", key, where="FlipFlopTask.sample")
        k_when, k_sign = jax.random.split(key)
        shape = (self.length, self.n_bits)
        pulse = jax.random.bernoulli(k_when, self.pulse_prob, shape).at[0].set(True)
        sign = jax.random.rademacher(k_sign, shape, jnp.int32)
        xs = jnp.where(pulse, sign, 0).astype(self.dtype)

        def hold(last: Array, x: Array) -> tuple[Array, Array]:
            last = jnp.where(x != 0, x, last)
            return last, last

        _, ys = jax.lax.scan(hold, jnp.zeros(self.n_bits, self.dtype), xs)
        return xs, ys

    def is_correct(
        self,
        prediction: Checked[Float[Array, "T bits"]],
        y: PyTree,
        *,
        criterion: Checked[Criterion] = "pascanu",
    ) -> Bool[Array, ""]:
        """Whether every output at every step is within 1 of its ±1 target (so on the
        right side of 0). Both criteria agree. A NaN prediction is never correct.

        **Raises:** as :meth:`AbstractTask.is_correct`.
        """
        where = "FlipFlopTask.is_correct"
        check_choice("criterion", criterion, _CRITERIA, where=where)
        prediction = check_float_array(
            "prediction", prediction, where=where, shape=self.prediction_shape
        )
        y = self._target(where, "y", y)
        return jnp.all(jnp.abs(prediction - y.astype(prediction.dtype)) < 1.0)


class DelayedXORTask(AbstractTask):
    """The delayed XOR (or copy) of a bit stream, Engelken 2023's task (gradient flossing;
    his code, RainerEngelken/GradientFlossing, ``task=-1`` and ``task=0``).

    ``xs`` (T, 1) are i.i.d. fair bits x_t ∈ {0, 1}. The target at step t is
    ``|x_{t-d} - x_{t-2d}|`` (``variant="xor"``), for t >= 2d, or ``x_{t-d}``
    (``variant="copy"``), for t >= d; earlier steps carry no loss (``y.mask``). One
    prediction per step (``readout="every"``): two logits, whose softmax cross-entropy is
    the binary cross-entropy of their difference (Engelken reads one sigmoid logit). A
    network must hold the last 2d (xor) or d (copy) bits.

    **Arguments:** `length`: T, with at least one loss step (T > 2d for xor, T > d for
    copy); `delay`: d >= 1 (keyword only, as all options); `variant`: ``"xor"``
    (default) or ``"copy"``; `dtype`: float dtype of ``xs``.

    **Attributes:** ``input_size = 1``, ``output_size = 2``, ``kind = "classification"``,
    ``first_loss_step`` (2d or d); ``baseline_loss = log 2`` (the targets are fair coins:
    no prediction without memory beats it).

    **Raises:** ``TypeError``/``ValueError`` for a bad `length` (no loss step left),
    `delay`, `variant` or `dtype`.

    >>> import jax, rnngrad as rg
    >>> task = rg.DelayedXORTask(30, delay=4)
    >>> xs, y = task.sample(jax.random.key(0))
    >>> xs.shape, y.labels.shape, int(y.mask.sum())
    ((30, 1), (30,), 22)
    """

    length: int = eqx.field(static=True)
    delay: int = eqx.field(static=True)
    variant: Literal["xor", "copy"] = eqx.field(static=True)
    dtype: Any = eqx.field(static=True)

    kind: ClassVar[Literal["classification"]] = "classification"
    readout: ClassVar[Literal["every"]] = "every"

    def __init__(
        self,
        length: Checked[int],
        *,
        delay: Checked[int],
        variant: Checked[Literal["xor", "copy"]] = "xor",
        dtype: Any = None,
    ):
        who = "DelayedXORTask"
        self.variant = check_choice("variant", variant, ("xor", "copy"), where=who)
        self.delay = check_int("delay", delay, where=who, minimum=1)
        first = self.first_loss_step
        why = f"the first loss step is {first} (= {'2d' if first > self.delay else 'd'})"
        self.length = check_int("length", length, where=who, minimum=first + 1, why=why)
        self.dtype = check_float_dtype("dtype", dtype, where=who)

    @property
    def name(self) -> str:
        return f"delayed_{self.variant}"

    @property
    def input_size(self) -> int:
        return 1

    @property
    def output_size(self) -> int:
        return 2

    @property
    def first_loss_step(self) -> int:
        """The first step with a target: 2d for xor, d for copy."""
        return self.delay * (2 if self.variant == "xor" else 1)

    @property
    def baseline_loss(self) -> float:
        """log 2: the cross-entropy of a fair-coin prediction, the best without memory."""
        return math.log(2.0)

    def sample(self, key: Checked[PRNGKeyArray]) -> tuple[Float[Array, "T 1"], SequenceTarget]:
        """One example: bits ``xs`` (T, 1) and ``SequenceTarget(labels (T,), mask (T,))``."""
        check_key("key", key, where="DelayedXORTask.sample")
        bits = jax.random.bernoulli(key, 0.5, (self.length,)).astype(jnp.int32)
        past = jnp.roll(bits, self.delay)  # the wrapped-around steps are masked out
        older = jnp.roll(bits, 2 * self.delay)
        labels = past if self.variant == "copy" else jnp.abs(past - older)
        mask = jnp.arange(self.length) >= self.first_loss_step
        return bits[:, None].astype(self.dtype), SequenceTarget(labels, mask)


# --------------------------------------------------------------------------- factory

_TASKS: dict[str, tuple[type[AbstractTask], dict[str, Any]]] = {
    "adding": (AddingTask, {}),
    "multiplication": (MultiplicationTask, {}),
    "temporal_order": (TemporalOrderTask, {"bits": 2}),
    "temporal_order_3bit": (TemporalOrderTask, {"bits": 3}),
    "copy": (CopyTask, {}),
    "flipflop": (FlipFlopTask, {}),
    "delayed_xor": (DelayedXORTask, {"variant": "xor"}),
    "delayed_copy": (DelayedXORTask, {"variant": "copy"}),
}

#: The names :func:`make_task` knows.
TASK_NAMES: tuple[str, ...] = tuple(_TASKS)


def make_task(name: Checked[str], length: Checked[int], **options: Any) -> AbstractTask:
    """Build a task by name.

    **Arguments:**

    - `name`: one of ``"adding"``, ``"multiplication"``, ``"temporal_order"``,
      ``"temporal_order_3bit"``, ``"copy"``, ``"flipflop"``, ``"delayed_xor"``,
      ``"delayed_copy"`` (``TASK_NAMES``).
    - `length`: T, the number of time steps.
    - `options`: keyword options of the task's class (e.g. ``variant="arjovsky"`` for
      adding, ``pattern_length=5`` for copy, ``delay=10`` for the delayed tasks).

    **Returns:** the task (an :class:`AbstractTask`).

    **Raises:** ``ValueError`` for an unknown name (listing the known ones),
    ``TypeError`` for a non-string name or an option the task does not take (listing
    the options it takes), and the task's own errors (e.g. T too short).

    >>> import rnngrad._tasks as tasks
    >>> task = tasks.make_task("temporal_order_3bit", 100)
    >>> task.input_size, task.output_size, task.kind
    (6, 8, 'classification')
    """
    if not isinstance(name, str):
        raise TypeError(
            f"make_task: `name` must be a str, one of {list(TASK_NAMES)}, got {describe(name)}."
        )
    if name not in _TASKS:
        raise ValueError(
            f"make_task: unknown task `name` {name!r}; known tasks: {list(TASK_NAMES)}."
        )
    cls, fixed = _TASKS[name]
    clash = sorted(set(fixed) & set(options))
    if clash:
        raise TypeError(
            f"make_task: option(s) {clash} are fixed by the name {name!r}; "
            f"use the other name instead."
        )
    _check_options(f"make_task({name!r})", cls, options, fixed)
    return cls(length, **fixed, **options)


def batch(
    task: Checked[AbstractTask], key: Checked[PRNGKeyArray], batch_size: Checked[int]
) -> tuple[Array, PyTree]:
    """`batch_size` examples of `task`: ``task.batch(key, batch_size)``.

    **Arguments:** `task`: a task; `key`: a ``jax.random`` key; `batch_size`: a positive
    int.

    **Returns:** ``(xs, ys)``, xs of shape (batch_size, T, input_size) and the targets
    with a leading batch axis.

    **Raises:** ``TypeError`` for a `task` that is not an rnngrad task;
    ``TypeError``/``ValueError`` for a bad `batch_size`.

    >>> import jax, rnngrad._tasks as tasks
    >>> xs, ys = tasks.batch(tasks.make_task("copy", 25), jax.random.key(0), 4)
    >>> xs.shape, ys.labels.shape, ys.mask.shape
    ((4, 25, 10), (4, 25), (4, 25))
    """
    if not isinstance(task, AbstractTask):
        raise TypeError(
            f"batch: `task` must be an rnngrad task (see make_task), got {describe(task)}."
        )
    return task.batch(key, batch_size)
