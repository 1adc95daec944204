"""The independently recurrent neural network (IndRNN, Li et al. 2018)."""

from __future__ import annotations

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
    check_real_scalar,
)
from ._abstract import AbstractCell
from ._lru import _as_scale, _set_scale, check_step, uniform_in
from ._vanilla import (
    HIGHEST,
    activation_of,
    check_nonlinearity,
    draw_weight,
    nonlinearity_gain,
)

__all__ = ["IndRNNCell"]


class IndRNNCell(AbstractCell):
    """IndRNN (Li et al. 2018): ``h_t = φ(W x_t + u ⊙ h_{t−1} + b)``, one recurrent weight
    per unit.

    Each unit sees only its own past, so the gradient through the recurrence is, per unit,
    ``∂h_{n,T}/∂h_{n,t} = u_n^{T−t} ∏_k φ'_{n,k}``: with ReLU (φ' = 1 on active units)
    its size is set by ``|u_n|^{T−t}`` alone. Li et al. (Section 3) keep it within
    ``[ε, γ]`` over a sequence of length T by constraining
    ``|u_n| ∈ [ε^{1/T}, γ^{1/T}]``: :meth:`recurrent_bound` gives that range, to pass as
    `recurrent_range` (``IndRNNCell(2, 128, recurrent_range=IndRNNCell.recurrent_bound(
    1000), key=key)``). The authors' adding-problem code uses γ = 2 for every layer and
    ε = ½ for the last one (its units keep memory of the whole sequence); it also clips
    ``|u| <= γ^{1/T}`` after every update, which is a projection to add to training.

    Not diagonal-linear (φ is applied to the whole pre-activation), so it does not follow
    the diagonal protocol of the LRU and min-cells. Its step Jacobian is
    ``diag(φ'(·)) diag(u)``, so :attr:`recurrent_weight` is ``diag(u)`` and Pascanu's
    bound applies with ``‖diag(u)‖₂ = max |u|``.

    **Arguments:**

    - `input_size`, `hidden_size`: positive ints.
    - `recurrent_range`: ``(low, high)``: ``u`` is drawn uniform in ``[low, high)``
      (default ``(0.0, 1.0)``, the paper's range for the lower layers when T is not
      fixed); any finite pair with ``low < high``.
    - `nonlinearity`: ``"relu"`` (default, the paper's), ``"tanh"``, ``"identity"``,
      or a callable. The bound of :meth:`recurrent_bound` is the ReLU one.
    - `weight_ih_init`: initialiser ``(key, shape, dtype) -> array`` for ``W`` (default
      ``N(0, 1/input_size)``; the authors' adding runs use ``N(0, 0.001²)``, i.e.
      ``jax.nn.initializers.normal(0.001)``).
    - `use_bias`: whether to have a bias (initialised to zero).
    - `dtype`: parameter dtype; default float64 under ``jax_enable_x64``, else float32.
    - `key`: a ``jax.random`` key (keyword only).

    Protocol: ``init_carry`` (zeros (H,)), ``scale_recurrent`` (multiplies ``u``),
    ``fold_recurrent_scale``, ``recurrent_weight`` (``diag(u)``, (H, H)), ``gain`` (1
    for ReLU, tanh and the identity).

    **Raises:** ``ValueError`` for a `recurrent_range` with ``low >= high`` or non-finite
    ends, an unknown `nonlinearity` name, or non-positive sizes; ``TypeError`` for a
    `recurrent_range` that is not a pair of reals, a `nonlinearity` that is neither a name
    nor a callable, a bad `weight_ih_init`, a non-bool `use_bias`, a non-floating
    `dtype`, or a `key` that is not one ``jax.random`` key.

    Reference: S. Li, W. Li, C. Cook, C. Zhu & Y. Gao, "Independently recurrent neural
    network (IndRNN): building a longer and deeper RNN", CVPR 2018.

    >>> import jax, jax.numpy as jnp, rnngrad as rg
    >>> low, high = rg.IndRNNCell.recurrent_bound(100, gamma=2.0, epsilon=0.5)
    >>> round(low, 6), round(high, 6)
    (0.993092, 1.006956)
    >>> cell = rg.IndRNNCell(2, 8, recurrent_range=(low, high), key=jax.random.key(0))
    >>> cell(jnp.ones(2), cell.init_carry()).shape
    (8,)
    >>> bool(jnp.all((cell.weight_hh >= low) & (cell.weight_hh < high)))
    True
    """

    weight_ih: Float[Array, "hidden input"]
    weight_hh: Float[Array, " hidden"]
    bias: Float[Array, " hidden"] | None
    recurrent_scale: Float[Array, ""] | None
    nonlinearity: str | Callable[[Array], Array] = eqx.field(static=True)
    input_size: int = eqx.field(static=True)
    hidden_size: int = eqx.field(static=True)

    def __init__(
        self,
        input_size: Checked[int],
        hidden_size: Checked[int],
        *,
        recurrent_range: Checked[tuple[float, float]] = (0.0, 1.0),
        nonlinearity: Checked[str | Callable[[Array], Array]] = "relu",
        weight_ih_init: Checked[Callable[..., Array] | None] = None,
        use_bias: Checked[bool] = True,
        dtype: Any = None,
        key: Checked[PRNGKeyArray],
    ):
        who = "IndRNNCell"
        check_key("key", key, where=who)
        self.input_size = check_positive_int("input_size", input_size)
        self.hidden_size = check_positive_int("hidden_size", hidden_size)
        low, high = check_range("recurrent_range", recurrent_range, where=who)
        self.nonlinearity = check_nonlinearity(nonlinearity)
        use_bias = check_bool("use_bias", use_bias, where=who)
        dtype = check_float_dtype("dtype", dtype, where=who)
        k_hh, k_ih = jax.random.split(key)
        self.weight_hh = uniform_in(k_hh, (hidden_size,), dtype, low, high)
        self.weight_ih = draw_weight(
            "weight_ih_init", weight_ih_init, k_ih, (hidden_size, input_size), dtype, where=who
        )
        self.bias = jnp.zeros((hidden_size,), dtype) if use_bias else None
        self.recurrent_scale = None

    @staticmethod
    def recurrent_bound(
        length: Checked[int], *, gamma: Checked[float] = 2.0, epsilon: Checked[float] = 0.0
    ) -> tuple[float, float]:
        """The range ``(ε^{1/T}, γ^{1/T})`` of ``|u|`` that keeps a ReLU IndRNN's gradient
        over `length` = T steps within ``[ε, γ]`` (Li et al. 2018, Section 3).

        **Arguments:** `length`: T, a positive int; `gamma`: the largest gradient factor
        γ > 0 (default 2, the authors' code); `epsilon`: the smallest, ``0 <= ε < γ``
        (default 0: no lower bound; the authors use ½ for the last layer).

        **Returns:** ``(low, high)``, Python floats, for `recurrent_range`.

        **Raises:** ``ValueError`` for a non-positive `length`, a non-positive `gamma`,
        a negative `epsilon` or ``epsilon >= gamma``; ``TypeError`` for non-numbers.
        """
        length = check_positive_int("length", length)
        check_real_scalar("gamma", gamma, positive=True)
        check_real_scalar("epsilon", epsilon, nonnegative=True)
        if not float(epsilon) < float(gamma):
            raise ValueError(
                f"IndRNNCell.recurrent_bound: `epsilon` must be < `gamma`, got epsilon = "
                f"{float(epsilon)} and gamma = {float(gamma)}."
            )
        return float(epsilon) ** (1.0 / length), float(gamma) ** (1.0 / length)

    @property
    def dtype(self) -> Any:
        """The dtype of the parameters and the carry."""
        return self.weight_hh.dtype

    @property
    def activation(self) -> Callable[[Array], Array]:
        """The nonlinearity φ as a function."""
        return activation_of(self.nonlinearity)

    @property
    def recurrent_vector(self) -> Float[Array, " hidden"]:
        """``u`` (H,), scale included."""
        if self.recurrent_scale is None:
            return self.weight_hh
        return self.recurrent_scale * self.weight_hh

    def __call__(
        self, x: Checked[Float[Array, " input"]], carry: Checked[Float[Array, " hidden"]]
    ) -> Float[Array, " hidden"]:
        """One step: ``x`` (input_size,) and ``h`` (H,) -> ``h'`` (H,)."""
        x, carry = check_step("IndRNNCell", x, carry, self.input_size, self.hidden_size, self.dtype)
        pre = jnp.matmul(self.weight_ih, x, precision=HIGHEST) + self.recurrent_vector * carry
        if self.bias is not None:
            pre = pre + self.bias
        return self.activation(pre)

    def init_carry(self) -> Float[Array, " hidden"]:
        """Zeros of shape (H,)."""
        return jnp.zeros((self.hidden_size,), self.dtype)

    def scale_recurrent(self, scale: Any) -> IndRNNCell:
        """This cell with ``u`` multiplied by `scale` (vmappable over `scale`; scales
        compose)."""
        return _set_scale(self, _as_scale(scale, self.recurrent_scale, self.dtype))

    def fold_recurrent_scale(self) -> IndRNNCell:
        """This cell with its scale folded into ``u`` (no separate scale)."""
        if self.recurrent_scale is None:
            return self
        return _set_scale(eqx.tree_at(lambda c: c.weight_hh, self, self.recurrent_vector), None)

    @property
    def recurrent_weight(self) -> Float[Array, "hidden hidden"]:
        """``diag(u)`` (H, H), scale included."""
        return jnp.diag(self.recurrent_vector)

    @property
    def gain(self) -> float:
        """γ = sup |φ'| (1 for ReLU, tanh, identity); ``TypeError`` for a callable φ."""
        return nonlinearity_gain(self.nonlinearity)
