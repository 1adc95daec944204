"""The vanilla (Elman) cell and the nonlinearities shared with the echo state cell."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from .._checks import (
    Checked,
    check_finite,
    check_float_dtype,
    check_key,
    check_positive_int,
    describe,
)
from . import _init
from ._abstract import AbstractCell

__all__ = ["VanillaCell"]

HIGHEST = jax.lax.Precision.HIGHEST  # full-precision matrix products on every backend

_NONLINEARITIES: dict[str, tuple[Callable[[Array], Array], float]] = {
    # name: (function, sup |phi'|) -- the gamma of Pascanu, Mikolov & Bengio (2013).
    "tanh": (jnp.tanh, 1.0),
    "relu": (jax.nn.relu, 1.0),
    "identity": (lambda a: a, 1.0),
}


def activation_of(nonlinearity: str | Callable[[Array], Array]) -> Callable[[Array], Array]:
    """A nonlinearity given by name (see ``_NONLINEARITIES``) or as a callable, as a function."""
    if isinstance(nonlinearity, str):
        return _NONLINEARITIES[nonlinearity][0]
    return nonlinearity


def check_nonlinearity(nonlinearity: Any) -> str | Callable[[Array], Array]:
    """Return `nonlinearity` if it is a known name or a callable, else raise clearly."""
    if isinstance(nonlinearity, str):
        if nonlinearity not in _NONLINEARITIES:
            raise ValueError(
                f"`nonlinearity` must be one of {sorted(_NONLINEARITIES)} or a callable, "
                f"got {nonlinearity!r}."
            )
    elif not callable(nonlinearity):
        raise TypeError(
            f"`nonlinearity` must be a name or a callable, got {describe(nonlinearity)}."
        )
    return nonlinearity


def nonlinearity_gain(nonlinearity: str | Callable[[Array], Array]) -> float:
    """sup |φ'| of a named nonlinearity; a ``TypeError`` for a callable one."""
    if not isinstance(nonlinearity, str):
        raise TypeError(
            "the cell has a callable nonlinearity, whose sup|φ'| rnngrad cannot know; pass "
            "it explicitly as `gamma=`."
        )
    return _NONLINEARITIES[nonlinearity][1]


def check_step_shapes(
    who: Checked[str], x: Any, h: Any, input_size: Checked[int], hidden_size: Checked[int]
) -> None:
    """Raise a clear ValueError unless ``x`` is (input_size,) and ``h`` is (hidden_size,)."""
    for name, value, size in (("x", x, input_size), ("h", h, hidden_size)):
        if not (hasattr(value, "shape") and hasattr(value, "dtype")):
            raise TypeError(
                f"{who}: `{name}` must be an array of shape ({size},), got {describe(value)}"
                + (": use jnp.asarray(...)." if isinstance(value, (list, tuple)) else ".")
            )
        if not jnp.issubdtype(value.dtype, jnp.floating):
            raise TypeError(
                f"{who}: `{name}` must be a real floating array of shape ({size},), got "
                f"{describe(value)}."
            )
        if jnp.shape(value) != (size,):
            raise ValueError(
                f"{who}: `{name}` must have shape ({size},) (one example; vmap for batches), "
                f"got {describe(value)}."
            )


def draw_weight(
    name: str,
    init: Any,
    key: Any,
    shape: tuple[int, ...],
    dtype: Any,
    *,
    where: str = "VanillaCell",
) -> Array:
    """``init(key, shape, dtype)`` checked: callable, right shape, finite values.

    ``init=None`` is ``rg.init.gaussian(1.0)`` (``N(0, 1/fan_in)``).
    """
    if init is None:
        init = _init.gaussian(1.0)
    if not callable(init):
        hint = f" (e.g. rg.init.{init}())" if isinstance(init, str) and hasattr(_init, init) else ""
        raise TypeError(
            f"{where}: `{name}` must be an initialiser (key, shape, dtype) -> array, like "
            f"rg.init.orthogonal() or jax.nn.initializers.normal(), got {describe(init)}{hint}."
        )
    try:
        weight = jnp.asarray(init(key, shape, dtype), dtype)
    except TypeError as err:
        factory = getattr(init, "__name__", "init")
        raise TypeError(
            f"{where}: `{name}` must be an initialiser (key, shape, dtype) -> array; calling "
            f"it failed with: {err}. If it makes initialisers, call it first, e.g. "
            f"rg.init.{factory}() instead of rg.init.{factory}."
        ) from err
    if weight.shape != shape:
        raise ValueError(f"{where}: `{name}` returned shape {weight.shape}, expected {shape}.")
    check_finite(name, weight, hint="(the initialiser returned non-finite weights)")
    return weight


class VanillaCell(AbstractCell):
    """The vanilla (Elman 1990) recurrent cell ``h' = φ(s · (W_hh h) + W_ih x + b)``.

    One unbatched step; batches are ``jax.vmap`` axes. ``weight_hh`` is ``W_rec``.
    ``weight_hh_scale`` is ``None`` unless the cell came from :func:`scale_recurrent`:
    the scale multiplies the product ``W_hh h``, so a ``vmap`` over scales keeps the
    base weight shared and each step is one matrix-matrix product.

    **Arguments:**

    - `input_size`, `hidden_size`: positive ints.
    - `nonlinearity`: ``"tanh"`` (default), ``"relu"`` (with identity init: the IRNN of
      Le, Jaitly & Hinton 2015), ``"identity"`` (a linear RNN), or a callable.
    - `weight_hh_init`: initialiser ``(key, shape, dtype) -> array`` for ``W_rec``
      (default ``rg.init.gaussian(1.0)``: spectral radius ≈ 1, the edge of chaos).
    - `weight_ih_init`: initialiser for ``W_ih`` (default ``N(0, 1/input_size)``).
    - `use_bias`: whether to have a bias (initialised to zero).
    - `dtype`: parameter dtype; default float64 under ``jax_enable_x64``, else float32.
    - `key`: a ``jax.random`` key (keyword only).

    Protocol: ``init_carry`` (zeros (H,)), ``scale_recurrent``, ``fold_recurrent_scale``,
    ``recurrent_weight``, ``gain`` (for a named nonlinearity), ``carry_pullback``.

    **Raises:** ``ValueError`` for non-positive sizes or an unknown nonlinearity name;
    ``TypeError`` for a nonlinearity that is neither a name nor a callable.

    Reference: J. L. Elman, "Finding structure in time", Cognitive Science 14 (1990).

    >>> import jax, jax.numpy as jnp, rnngrad as rg
    >>> cell = rg.VanillaCell(3, 5, key=jax.random.key(0))
    >>> cell(jnp.ones(3), jnp.zeros(5)).shape
    (5,)
    """

    weight_ih: Float[Array, "hidden input"]
    weight_hh: Float[Array, "hidden hidden"]
    bias: Float[Array, " hidden"] | None
    weight_hh_scale: Float[Array, ""] | None
    nonlinearity: str | Callable[[Array], Array] = eqx.field(static=True)
    input_size: int = eqx.field(static=True)
    hidden_size: int = eqx.field(static=True)

    def __init__(
        self,
        input_size: Checked[int],
        hidden_size: Checked[int],
        *,
        nonlinearity: Checked[str | Callable[[Array], Array]] = "tanh",
        weight_hh_init: Callable[..., Array] | None = None,
        weight_ih_init: Callable[..., Array] | None = None,
        use_bias: bool = True,
        dtype: Any = None,
        key: Checked[PRNGKeyArray],
    ):
        check_key("key", key, where="VanillaCell")
        self.input_size = check_positive_int("input_size", input_size)
        self.hidden_size = check_positive_int("hidden_size", hidden_size)
        self.nonlinearity = check_nonlinearity(nonlinearity)
        dtype = check_float_dtype("dtype", dtype, where="VanillaCell")
        if not isinstance(use_bias, bool):
            raise TypeError(f"VanillaCell: `use_bias` must be a bool, got {describe(use_bias)}.")
        k_hh, k_ih = jax.random.split(key)
        self.weight_hh = draw_weight(
            "weight_hh_init", weight_hh_init, k_hh, (hidden_size, hidden_size), dtype
        )
        self.weight_ih = draw_weight(
            "weight_ih_init", weight_ih_init, k_ih, (hidden_size, input_size), dtype
        )
        self.bias = jnp.zeros((hidden_size,), dtype) if use_bias else None
        self.weight_hh_scale = None

    @property
    def activation(self) -> Callable[[Array], Array]:
        """The nonlinearity φ as a function."""
        return activation_of(self.nonlinearity)

    def __call__(
        self,
        x: Checked[Float[Array, " input"]],
        h: Checked[Float[Array, " hidden"]],
        *,
        key: Any = None,
    ) -> Float[Array, " hidden"]:
        """One step: ``x`` (input_size,) and ``h`` (hidden_size,) -> ``h'`` (hidden_size,)."""
        del key
        check_step_shapes("VanillaCell", x, h, self.input_size, self.hidden_size)
        # Full float32 precision: on GPUs XLA's default lets float32 products run in
        # TF32 (10-bit mantissa), which moved the benchmark's gradient norms by 0.02
        # decades on an H100. On CPUs this changes nothing.
        recurrent = jnp.matmul(self.weight_hh, h, precision=HIGHEST)
        if self.weight_hh_scale is not None:
            recurrent = self.weight_hh_scale * recurrent
        pre = recurrent + jnp.matmul(self.weight_ih, x, precision=HIGHEST)
        if self.bias is not None:
            pre = pre + self.bias
        return self.activation(pre)

    def carry_pullback(
        self,
        x: Float[Array, " input"],
        h: Float[Array, " hidden"],
        h_next: Float[Array, " hidden"],
        cotangent: Float[Array, " hidden"],
    ) -> Float[Array, " hidden"]:
        """``(∂h'/∂h)ᵀ v = s · W_hhᵀ (v ⊙ φ'(a))`` with φ'(a) read from the output ``h'``.

        ``1 − h'²`` (as ``(1 + h')(1 − h')``) for tanh, ``[h' > 0]`` for ReLU, 1 for the
        identity: one matrix product, where ``jax.vjp`` runs the step again first. A
        callable nonlinearity takes ``jax.vjp`` of the step (see
        :func:`rnngrad.cells.carry_pullback`).
        """
        if not isinstance(self.nonlinearity, str):
            return jax.vjp(lambda c: self(x, c), h)[1](cotangent)[0]
        if self.nonlinearity == "tanh":
            u = cotangent * (1 + h_next) * (1 - h_next)
        elif self.nonlinearity == "relu":
            u = jnp.where(h_next > 0, cotangent, jnp.zeros_like(cotangent))
        else:
            u = cotangent
        if self.weight_hh_scale is not None:
            u = self.weight_hh_scale * u
        return jnp.matmul(u, self.weight_hh, precision=HIGHEST)

    def scale_recurrent(self, scale: Any) -> VanillaCell:
        """This cell with W_rec multiplied by `scale` (see :func:`scale_recurrent`)."""
        scale = jnp.asarray(scale, self.weight_hh.dtype)
        if self.weight_hh_scale is not None:
            scale = self.weight_hh_scale * scale
        return eqx.tree_at(lambda c: c.weight_hh_scale, self, scale, is_leaf=lambda x: x is None)

    def init_carry(self) -> Float[Array, " hidden"]:
        """Zeros of shape (hidden_size,), the dtype of ``weight_hh``."""
        return jnp.zeros((self.hidden_size,), self.weight_hh.dtype)

    @property
    def recurrent_weight(self) -> Float[Array, "hidden hidden"]:
        """The effective ``W_rec``, scale included."""
        if self.weight_hh_scale is None:
            return self.weight_hh
        return self.weight_hh_scale * self.weight_hh

    def fold_recurrent_scale(self) -> VanillaCell:
        """This cell with its scale folded into ``weight_hh`` (no separate scale)."""
        if self.weight_hh_scale is None:
            return self
        folded = eqx.tree_at(lambda c: c.weight_hh, self, self.recurrent_weight)
        return eqx.tree_at(lambda c: c.weight_hh_scale, folded, None)

    @property
    def gain(self) -> float:
        """γ = sup |φ'| (1 for tanh, ReLU, identity); ``TypeError`` for a callable φ."""
        return nonlinearity_gain(self.nonlinearity)
