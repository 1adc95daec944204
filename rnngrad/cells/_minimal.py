"""Real diagonal cells: minGRU and minLSTM (Feng et al. 2024), whose gates see the input
only, and the plain diagonal linear recurrence of the curse-of-memory theory.

Their coefficients do not depend on the carry, so each step is affine in the carry,
``h_t = a(x_t) ⊙ h_{t−1} + b(x_t)``: they follow the diagonal protocol of ``_lru`` and
run with a parallel scan. The step Jacobian ``∂h_t/∂h_{t−1} = diag(a(x_t))`` depends on
the input alone.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from .._checks import (
    Checked,
    check_bool,
    check_float_dtype,
    check_key,
    check_positive_int,
    check_range,
)
from ._abstract import AbstractCell
from ._lru import _as_scale, _set_scale, check_input, check_step, uniform_in
from ._vanilla import HIGHEST, draw_weight

__all__ = ["MinGRUCell", "MinLSTMCell", "g"]


def g(a: Array) -> Array:
    """The paper's positive activation ``g(a) = a + ½`` for ``a >= 0``, ``σ(a)`` otherwise.

    Continuous at 0 (σ(0) = ½), strictly positive, so that ``h̃ = g(·)`` has a logarithm
    (the paper's log-space parallel scan).
    """
    return jnp.where(a >= 0, a + 0.5, jax.nn.sigmoid(a))


def _linear(weight: Array, bias: Array | None, x: Array) -> Array:
    out = jnp.matmul(weight, x, precision=HIGHEST)
    return out if bias is None else out + bias


def _draw_linear(
    who: str, init: Any, key: PRNGKeyArray, n: int, m: int, dtype: Any, use_bias: bool
) -> tuple[Array, Array | None]:
    weight = draw_weight("weight_ih_init", init, key, (n, m), dtype, where=who)
    return weight, (jnp.zeros((n,), dtype) if use_bias else None)


class _RealDiagonalCell(AbstractCell):
    """What the real diagonal cells share (minGRU, minLSTM, DiagonalLinear): the carry,
    the scale and the diagonal protocol, with ``__call__`` computed through it."""

    recurrent_scale: eqx.AbstractVar[Float[Array, ""] | None]
    input_size: eqx.AbstractVar[int]
    hidden_size: eqx.AbstractVar[int]

    @abc.abstractmethod
    def _coefficients(self, x: Array) -> tuple[Array, Array]:
        """``(a, b)`` of the step without the scale, from the checked input `x`."""

    @property
    @abc.abstractmethod
    def dtype(self) -> Any:
        """The dtype of the parameters and the carry."""

    def diagonal_step(
        self, x: Checked[Float[Array, " input"]]
    ) -> tuple[Float[Array, " hidden"], Float[Array, " hidden"]]:
        """``(a, b)``, real (H,): ``h' = a ⊙ h + b`` for every carry ``h`` (scale in ``a``)."""
        x = check_input(type(self).__name__, "x", x, self.input_size, self.dtype)
        a, b = self._coefficients(x)
        if self.recurrent_scale is not None:
            a = self.recurrent_scale * a
        return a, b

    def to_diagonal(
        self, carry: Checked[Float[Array, "*batch hidden"]]
    ) -> Float[Array, "*batch hidden"]:
        """The identity: the carry is already in diagonal coordinates."""
        return carry

    def from_diagonal(
        self, z: Checked[Float[Array, "*batch hidden"]]
    ) -> Float[Array, "*batch hidden"]:
        """The identity."""
        return z

    def __call__(
        self, x: Checked[Float[Array, " input"]], carry: Checked[Float[Array, " hidden"]]
    ) -> Float[Array, " hidden"]:
        """One step: ``x`` (input_size,) and ``h`` (H,) -> ``h'`` (H,)."""
        x, carry = check_step(
            type(self).__name__, x, carry, self.input_size, self.hidden_size, self.dtype
        )
        a, b = self.diagonal_step(x)
        return self.from_diagonal(a * self.to_diagonal(carry) + b)

    def init_carry(self) -> Float[Array, " hidden"]:
        """Zeros of shape (H,)."""
        return jnp.zeros((self.hidden_size,), self.dtype)

    def scale_recurrent(self, scale: Any) -> Any:
        """This cell with the carry's coefficient ``a`` multiplied by `scale`:
        ``h' = scale · a ⊙ h + b``, so the step Jacobian ``diag(a)`` is scaled.

        Vmappable over `scale` (the weights stay shared); scales compose.
        """
        return _set_scale(self, _as_scale(scale, self.recurrent_scale, self.dtype))

    def fold_recurrent_scale(self) -> Any:
        """This cell unchanged: ``a`` comes from sigmoid gates, which no weight change can
        multiply by a scale, so a scaled cell keeps its ``recurrent_scale`` as a parameter
        of its own (``rg.train`` then trains it with the weights)."""
        return self


class MinGRUCell(_RealDiagonalCell):
    """minGRU (Feng et al. 2024): a GRU whose gate and candidate see the input only.

    ``z_t = σ(W_z x_t + b_z)``, ``h̃_t = g(W_h x_t + b_h)``,
    ``h_t = (1 − z_t) ⊙ h_{t−1} + z_t ⊙ h̃_t``, with the paper's positive activation
    ``g(a) = a + ½`` for ``a >= 0``, ``σ(a)`` otherwise (its log-space version, ``h̃ >
    0``). The step is affine in ``h_{t−1}``: ``∂h_t/∂h_{t−1} = diag(1 − z_t)`` depends on
    the input alone, so gradients neither explode nor depend on the state; they vanish
    with lag as ``∏ (1 − z)``.

    **Diagonal protocol** (for ``rg.unroll(..., parallel=True)``): ``diagonal_step(x)``
    returns ``a = 1 − z_t`` (times the scale) and ``b = z_t ⊙ h̃_t``, real (H,);
    ``to_diagonal`` and ``from_diagonal`` are the identity.

    **Arguments:**

    - `input_size`, `hidden_size`: positive ints.
    - `weight_ih_init`: initialiser ``(key, shape, dtype) -> array`` for ``W_z`` and
      ``W_h`` (default ``N(0, 1/input_size)``).
    - `use_bias`: whether to have the biases ``b_z``, ``b_h`` (initialised to zero).
    - `dtype`: parameter dtype; default float64 under ``jax_enable_x64``, else float32.
    - `key`: a ``jax.random`` key (keyword only).

    Protocol: ``init_carry`` (zeros (H,)), ``scale_recurrent`` (``a ← scale · a``),
    ``fold_recurrent_scale`` (the cell unchanged: a gate has no weight to fold a scale
    into), and the diagonal protocol above. No ``recurrent_weight``: the recurrence has
    no weight, its Jacobian ``diag(1 − z_t)`` is set by the input.

    **Raises:** ``ValueError`` for non-positive sizes; ``TypeError`` for a bad
    `weight_ih_init`, a non-bool `use_bias`, a non-floating `dtype`, or a `key` that is
    not one ``jax.random`` key.

    Reference: L. Feng, F. Tung, M. O. Ahmed, Y. Bengio & H. Hajimirsadeghi, "Were RNNs
    all we needed?", arXiv:2410.01201 (2024).

    >>> import jax, jax.numpy as jnp, rnngrad as rg
    >>> cell = rg.MinGRUCell(2, 4, key=jax.random.key(0))
    >>> x, h = jnp.ones(2), jnp.ones(4)
    >>> a, b = cell.diagonal_step(x)
    >>> bool(jnp.allclose(cell(x, h), a * h + b))
    True
    """

    weight_z: Float[Array, "hidden input"]
    bias_z: Float[Array, " hidden"] | None
    weight_h: Float[Array, "hidden input"]
    bias_h: Float[Array, " hidden"] | None
    recurrent_scale: Float[Array, ""] | None
    input_size: int = eqx.field(static=True)
    hidden_size: int = eqx.field(static=True)

    def __init__(
        self,
        input_size: Checked[int],
        hidden_size: Checked[int],
        *,
        weight_ih_init: Checked[Callable[..., Array] | None] = None,
        use_bias: Checked[bool] = True,
        dtype: Any = None,
        key: Checked[PRNGKeyArray],
    ):
        who = "MinGRUCell"
        check_key("key", key, where=who)
        self.input_size = check_positive_int("input_size", input_size)
        self.hidden_size = check_positive_int("hidden_size", hidden_size)
        use_bias = check_bool("use_bias", use_bias, where=who)
        dtype = check_float_dtype("dtype", dtype, where=who)
        k_z, k_h = jax.random.split(key)
        n, m = hidden_size, input_size
        self.weight_z, self.bias_z = _draw_linear(who, weight_ih_init, k_z, n, m, dtype, use_bias)
        self.weight_h, self.bias_h = _draw_linear(who, weight_ih_init, k_h, n, m, dtype, use_bias)
        self.recurrent_scale = None

    @property
    def dtype(self) -> Any:
        """The dtype of the parameters and the carry."""
        return self.weight_z.dtype

    def _coefficients(self, x: Array) -> tuple[Array, Array]:
        pre_z = _linear(self.weight_z, self.bias_z, x)
        candidate = g(_linear(self.weight_h, self.bias_h, x))
        # 1 − σ(u) = σ(−u), without the cancellation when z → 1.
        return jax.nn.sigmoid(-pre_z), jax.nn.sigmoid(pre_z) * candidate


class MinLSTMCell(_RealDiagonalCell):
    """minLSTM (Feng et al. 2024): an LSTM whose gates see the input only, normalised.

    ``f_t = σ(W_f x_t + b_f)``, ``i_t = σ(W_i x_t + b_i)``, ``h̃_t = g(W_h x_t + b_h)``;
    the gates are normalised to ``f'_t = f_t / (f_t + i_t)``, ``i'_t = i_t / (f_t + i_t)``
    (so ``f' + i' = 1`` and the state's scale is time-independent), and
    ``h_t = f'_t ⊙ h_{t−1} + i'_t ⊙ h̃_t``, with ``g`` as in :class:`MinGRUCell`. The
    carry is ``h`` alone (H,): minLSTM has no separate cell state. The normalised gates
    are computed in log space, ``f' = σ(log f − log i)``, so they stay finite when both
    gates underflow.

    **Diagonal protocol** (for ``rg.unroll(..., parallel=True)``): ``diagonal_step(x)``
    returns ``a = f'_t`` (times the scale) and ``b = i'_t ⊙ h̃_t``, real (H,);
    ``to_diagonal`` and ``from_diagonal`` are the identity.

    **Arguments:**

    - `input_size`, `hidden_size`: positive ints.
    - `weight_ih_init`: initialiser ``(key, shape, dtype) -> array`` for ``W_f``, ``W_i``
      and ``W_h`` (default ``N(0, 1/input_size)``).
    - `use_bias`: whether to have the biases (initialised to zero).
    - `dtype`: parameter dtype; default float64 under ``jax_enable_x64``, else float32.
    - `key`: a ``jax.random`` key (keyword only).

    Protocol: ``init_carry`` (zeros (H,)), ``scale_recurrent`` (``a ← scale · a``),
    ``fold_recurrent_scale`` (the cell unchanged), and the diagonal protocol above.

    **Raises:** ``ValueError`` for non-positive sizes; ``TypeError`` for a bad
    `weight_ih_init`, a non-bool `use_bias`, a non-floating `dtype`, or a `key` that is
    not one ``jax.random`` key.

    Reference: L. Feng, F. Tung, M. O. Ahmed, Y. Bengio & H. Hajimirsadeghi, "Were RNNs
    all we needed?", arXiv:2410.01201 (2024).

    >>> import jax, jax.numpy as jnp, rnngrad as rg
    >>> cell = rg.MinLSTMCell(2, 4, key=jax.random.key(0))
    >>> x, h = jnp.ones(2), jnp.ones(4)
    >>> a, b = cell.diagonal_step(x)
    >>> bool(jnp.allclose(cell(x, h), a * h + b)), bool(jnp.all((a > 0) & (a < 1)))
    (True, True)
    """

    weight_f: Float[Array, "hidden input"]
    bias_f: Float[Array, " hidden"] | None
    weight_i: Float[Array, "hidden input"]
    bias_i: Float[Array, " hidden"] | None
    weight_h: Float[Array, "hidden input"]
    bias_h: Float[Array, " hidden"] | None
    recurrent_scale: Float[Array, ""] | None
    input_size: int = eqx.field(static=True)
    hidden_size: int = eqx.field(static=True)

    def __init__(
        self,
        input_size: Checked[int],
        hidden_size: Checked[int],
        *,
        weight_ih_init: Checked[Callable[..., Array] | None] = None,
        use_bias: Checked[bool] = True,
        dtype: Any = None,
        key: Checked[PRNGKeyArray],
    ):
        who = "MinLSTMCell"
        check_key("key", key, where=who)
        self.input_size = check_positive_int("input_size", input_size)
        self.hidden_size = check_positive_int("hidden_size", hidden_size)
        use_bias = check_bool("use_bias", use_bias, where=who)
        dtype = check_float_dtype("dtype", dtype, where=who)
        k_f, k_i, k_h = jax.random.split(key, 3)
        n, m = hidden_size, input_size
        self.weight_f, self.bias_f = _draw_linear(who, weight_ih_init, k_f, n, m, dtype, use_bias)
        self.weight_i, self.bias_i = _draw_linear(who, weight_ih_init, k_i, n, m, dtype, use_bias)
        self.weight_h, self.bias_h = _draw_linear(who, weight_ih_init, k_h, n, m, dtype, use_bias)
        self.recurrent_scale = None

    @property
    def dtype(self) -> Any:
        """The dtype of the parameters and the carry."""
        return self.weight_f.dtype

    def _coefficients(self, x: Array) -> tuple[Array, Array]:
        # log f = −softplus(−p_f), log i = −softplus(−p_i); f' = σ(log f − log i).
        log_f = -jax.nn.softplus(-_linear(self.weight_f, self.bias_f, x))
        log_i = -jax.nn.softplus(-_linear(self.weight_i, self.bias_i, x))
        candidate = g(_linear(self.weight_h, self.bias_h, x))
        return jax.nn.sigmoid(log_f - log_i), jax.nn.sigmoid(log_i - log_f) * candidate


class DiagonalLinearCell(_RealDiagonalCell):
    """The real diagonal linear recurrence ``h_t = λ ⊙ h_{t−1} + B x_t``.

    The plain cell of the curse-of-memory theory (Zucchet & Orvieto 2024): each unit is
    the AR(1) filter ``h = λ h + (B x)`` of ``rg.theory.curse_of_memory``. Its step
    Jacobian is ``diag(λ)`` (:attr:`recurrent_weight`) whatever the input, so the
    gradient from lag d is exactly ``λ^d`` per unit and the Lyapunov exponents are
    ``log |λ_j|``.

    **Diagonal protocol** (for ``rg.unroll(..., parallel=True)``): ``diagonal_step(x)``
    returns ``a = λ`` (scale included) and ``b = B x``, real (H,); ``to_diagonal`` and
    ``from_diagonal`` are the identity.

    **Arguments:**

    - `input_size`, `hidden_size`: positive ints.
    - `recurrent_range`: ``(low, high)``: λ is drawn uniform in ``[low, high)``, with
      ``−1 <= low < high <= 1`` (default ``(0.0, 1.0)``: every memory time-scale; for
      ``|λ| > 1`` use ``rg.scale_recurrent``).
    - `weight_ih_init`: initialiser ``(key, shape, dtype) -> array`` for ``B`` (default
      ``N(0, 1/input_size)``).
    - `dtype`: parameter dtype; default float64 under ``jax_enable_x64``, else float32.
    - `key`: a ``jax.random`` key (keyword only).

    Protocol: ``init_carry`` (zeros (H,)), ``scale_recurrent`` (multiplies λ),
    ``fold_recurrent_scale``, ``recurrent_weight`` (``diag(λ)``), ``gain`` (1), and the
    diagonal protocol above. Also :attr:`eigenvalues` (λ, (H,)).

    **Raises:** ``ValueError`` for a `recurrent_range` not inside [−1, 1] or with
    ``low >= high``, or non-positive sizes; ``TypeError`` for a `recurrent_range` that is
    not a pair of reals, a bad `weight_ih_init`, a non-floating `dtype`, or a `key` that
    is not one ``jax.random`` key.

    Reference: N. Zucchet & A. Orvieto, "Recurrent neural networks: vanishing and
    exploding gradients are not the end of the story", NeurIPS 2024.

    >>> import jax, jax.numpy as jnp, rnngrad as rg
    >>> cell = rg.DiagonalLinearCell(1, 3, recurrent_range=(0.5, 0.9), key=jax.random.key(0))
    >>> a, b = cell.diagonal_step(jnp.ones(1))
    >>> bool(jnp.allclose(cell(jnp.ones(1), jnp.ones(3)), a * jnp.ones(3) + b))
    True
    """

    lam: Float[Array, " hidden"]
    weight_ih: Float[Array, "hidden input"]
    recurrent_scale: Float[Array, ""] | None
    input_size: int = eqx.field(static=True)
    hidden_size: int = eqx.field(static=True)

    def __init__(
        self,
        input_size: Checked[int],
        hidden_size: Checked[int],
        *,
        recurrent_range: Checked[tuple[float, float]] = (0.0, 1.0),
        weight_ih_init: Checked[Callable[..., Array] | None] = None,
        dtype: Any = None,
        key: Checked[PRNGKeyArray],
    ):
        who = "DiagonalLinearCell"
        check_key("key", key, where=who)
        self.input_size = check_positive_int("input_size", input_size)
        self.hidden_size = check_positive_int("hidden_size", hidden_size)
        low, high = check_range("recurrent_range", recurrent_range, where=who)
        if low < -1.0 or high > 1.0:
            raise ValueError(
                f"{who}: `recurrent_range` must lie inside [-1, 1] (a stable recurrence; "
                f"scale it with rg.scale_recurrent for |λ| > 1), got {recurrent_range!r}."
            )
        dtype = check_float_dtype("dtype", dtype, where=who)
        k_lam, k_ih = jax.random.split(key)
        self.lam = uniform_in(k_lam, (hidden_size,), dtype, low, high)
        self.weight_ih = draw_weight(
            "weight_ih_init", weight_ih_init, k_ih, (hidden_size, input_size), dtype, where=who
        )
        self.recurrent_scale = None

    @property
    def dtype(self) -> Any:
        """The dtype of the parameters and the carry."""
        return self.lam.dtype

    @property
    def eigenvalues(self) -> Float[Array, " hidden"]:
        """λ (H,), scale included."""
        return self.lam if self.recurrent_scale is None else self.recurrent_scale * self.lam

    def _coefficients(self, x: Array) -> tuple[Array, Array]:
        return self.lam, jnp.matmul(self.weight_ih, x, precision=HIGHEST)

    def fold_recurrent_scale(self) -> DiagonalLinearCell:
        """This cell with its scale folded into λ (no separate scale)."""
        if self.recurrent_scale is None:
            return self
        return _set_scale(eqx.tree_at(lambda c: c.lam, self, self.eigenvalues), None)

    @property
    def recurrent_weight(self) -> Float[Array, "hidden hidden"]:
        """``diag(λ)`` (H, H), scale included: the step Jacobian."""
        return jnp.diag(self.eigenvalues)

    @property
    def gain(self) -> float:
        """γ = sup |φ'| = 1: the recurrence is linear."""
        return 1.0
