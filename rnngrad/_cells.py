"""Recurrent cells: the vanilla (Elman) cell, recurrent-weight scaling, carry helpers.

Gated cells are equinox's own ``eqx.nn.GRUCell`` and ``eqx.nn.LSTMCell``; rnngrad adds
only what equinox lacks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree
from jaxtyping import Array, Float, PRNGKeyArray, PyTree

from . import _init
from ._checks import check_positive_int, check_real_scalar, describe

HIGHEST = jax.lax.Precision.HIGHEST  # full-precision matrix products on every backend

_NONLINEARITIES: dict[str, tuple[Callable[[Array], Array], float]] = {
    # name: (function, sup |phi'|) -- the gamma of Pascanu, Mikolov & Bengio (2013).
    "tanh": (jnp.tanh, 1.0),
    "relu": (jax.nn.relu, 1.0),
    "identity": (lambda a: a, 1.0),
}


def _float_dtype(dtype: Any) -> Any:
    return jnp.asarray(0.0).dtype if dtype is None else jnp.dtype(dtype)


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


def check_step_shapes(who: str, x: Any, h: Any, input_size: int, hidden_size: int) -> None:
    """Raise a clear ValueError unless ``x`` is (input_size,) and ``h`` is (hidden_size,)."""
    for name, value, size in (("x", x, input_size), ("h", h, hidden_size)):
        if jnp.shape(value) != (size,):
            raise ValueError(
                f"{who}: `{name}` must have shape ({size},) (one example; vmap for batches), "
                f"got {describe(value)}."
            )


class VanillaCell(eqx.Module):
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
        input_size: int,
        hidden_size: int,
        *,
        nonlinearity: str | Callable[[Array], Array] = "tanh",
        weight_hh_init: Callable[..., Array] | None = None,
        weight_ih_init: Callable[..., Array] | None = None,
        use_bias: bool = True,
        dtype: Any = None,
        key: PRNGKeyArray,
    ):
        self.input_size = check_positive_int("input_size", input_size)
        self.hidden_size = check_positive_int("hidden_size", hidden_size)
        self.nonlinearity = check_nonlinearity(nonlinearity)
        dtype = _float_dtype(dtype)
        hh_init = _init.gaussian(1.0) if weight_hh_init is None else weight_hh_init
        ih_init = _init.gaussian(1.0) if weight_ih_init is None else weight_ih_init
        k_hh, k_ih = jax.random.split(key)
        self.weight_hh = jnp.asarray(hh_init(k_hh, (hidden_size, hidden_size), dtype), dtype)
        self.weight_ih = jnp.asarray(ih_init(k_ih, (hidden_size, input_size), dtype), dtype)
        for name, w, shape in (
            ("weight_hh_init", self.weight_hh, (hidden_size, hidden_size)),
            ("weight_ih_init", self.weight_ih, (hidden_size, input_size)),
        ):
            if w.shape != shape:
                raise ValueError(f"`{name}` returned shape {w.shape}, expected {shape}.")
        self.bias = jnp.zeros((hidden_size,), dtype) if use_bias else None
        self.weight_hh_scale = None

    @property
    def activation(self) -> Callable[[Array], Array]:
        """The nonlinearity φ as a function."""
        return activation_of(self.nonlinearity)

    def __call__(
        self, x: Float[Array, " input"], h: Float[Array, " hidden"], *, key: Any = None
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

    def scale_recurrent(self, scale: Any) -> VanillaCell:
        """This cell with W_rec multiplied by `scale` (see :func:`scale_recurrent`)."""
        scale = jnp.asarray(scale, self.weight_hh.dtype)
        if self.weight_hh_scale is not None:
            scale = self.weight_hh_scale * scale
        return eqx.tree_at(lambda c: c.weight_hh_scale, self, scale, is_leaf=lambda x: x is None)


class RecurrentScaled(eqx.Module):
    """A gated equinox cell whose ``weight_hh`` acts as ``scale · weight_hh``.

    Made by :func:`scale_recurrent` for ``eqx.nn.LSTMCell`` and ``eqx.nn.GRUCell``.
    For the LSTM, ``h`` enters only through ``W_hh h``, so the scale is applied to
    ``h`` and the base weight stays shared under ``vmap``; the GRU also uses ``h``
    outside the product, so its weight is scaled at call time.
    """

    cell: eqx.nn.LSTMCell | eqx.nn.GRUCell
    scale: Float[Array, ""]

    def __call__(self, x: Array, carry: PyTree, *, key: Any = None) -> PyTree:
        del key
        if isinstance(self.cell, eqx.nn.LSTMCell):
            h, c = carry
            return self.cell(x, (self.scale * h, c))
        scaled = eqx.tree_at(lambda c: c.weight_hh, self.cell, self.scale * self.cell.weight_hh)
        return scaled(x, carry)

    def scale_recurrent(self, scale: Any) -> RecurrentScaled:
        """Compose a further scale."""
        return RecurrentScaled(self.cell, self.scale * jnp.asarray(scale, self.scale.dtype))


def scale_recurrent(cell: Any, scale: Any) -> Any:
    """The same cell with its recurrent weight (``weight_hh``, W_rec) multiplied by `scale`.

    Works for :class:`VanillaCell`, ``eqx.nn.GRUCell`` and ``eqx.nn.LSTMCell`` (wrapped
    in :class:`RecurrentScaled`), and for any cell with a method
    ``scale_recurrent(self, scale)``; works under ``jax.vmap`` over `scale` with the
    base weight shared (one matrix-matrix product per step for the vanilla cell).
    Scales compose: scaling twice multiplies.

    **Arguments:** `cell`: the cell; `scale`: a real scalar (array or number, may be traced).

    **Returns:** the scaled cell.

    **Raises:** ``TypeError`` for a non-real `scale` (string, complex, bool) or an
    unknown cell; ``ValueError`` for a non-scalar `scale` or a concrete non-finite one.

    Reference: the recurrent gain of Pascanu, Mikolov & Bengio, "On the difficulty of
    training recurrent neural networks", ICML 2013.

    >>> import jax, jax.numpy as jnp, rnngrad as rg
    >>> cell = rg.VanillaCell(2, 4, key=jax.random.key(0))
    >>> h = jax.vmap(lambda s: rg.scale_recurrent(cell, s)(jnp.ones(2), jnp.ones(4)))(
    ...     jnp.linspace(0.5, 1.5, 3))
    >>> h.shape
    (3, 4)
    """
    check_real_scalar("scale", scale)
    method = getattr(cell, "scale_recurrent", None)
    if callable(method):
        return method(scale)
    if isinstance(cell, (eqx.nn.LSTMCell, eqx.nn.GRUCell)):
        return RecurrentScaled(cell, jnp.asarray(scale, cell.weight_hh.dtype))
    raise TypeError(
        f"scale_recurrent does not know the recurrent weight of {type(cell).__name__}. "
        "Known cells: rnngrad.VanillaCell, rnngrad.EchoStateCell, equinox.nn.GRUCell, "
        "equinox.nn.LSTMCell. To make your cell sweepable, give it a method "
        "`scale_recurrent(self, scale)` returning the cell with W_rec multiplied by scale "
        "(for example with equinox.tree_at)."
    )


def recurrent_weight(cell: Any) -> Float[Array, "rows hidden"]:
    """The effective recurrent weight ``W_rec`` of a cell, scale included.

    (H, H) for a vanilla cell, (3H, H) for a GRU, (4H, H) for an LSTM.

    **Raises:** ``TypeError`` for a cell without a known recurrent weight.
    """
    if isinstance(cell, RecurrentScaled):
        return cell.scale * cell.cell.weight_hh
    if isinstance(cell, VanillaCell):
        if cell.weight_hh_scale is None:
            return cell.weight_hh
        return cell.weight_hh_scale * cell.weight_hh
    w = getattr(cell, "weight_hh", None)
    if w is None:
        raise TypeError(f"{type(cell).__name__} has no recurrent weight `weight_hh`.")
    return w


def fold_recurrent_scale(cell: Any) -> Any:
    """Fold a scale from :func:`scale_recurrent` into ``weight_hh``.

    Returns a plain cell whose only trainable recurrent parameter is ``weight_hh``:
    use it before training a scaled cell, so that the optimiser does not also train
    the scale.
    """
    if isinstance(cell, RecurrentScaled):
        return eqx.tree_at(lambda c: c.weight_hh, cell.cell, recurrent_weight(cell))
    if isinstance(cell, VanillaCell) and cell.weight_hh_scale is not None:
        folded = eqx.tree_at(lambda c: c.weight_hh, cell, recurrent_weight(cell))
        return eqx.tree_at(lambda c: c.weight_hh_scale, folded, None)
    return cell


def zero_carry(cell: Any, dtype: Any = None) -> PyTree:
    """The all-zero initial carry of a known cell.

    (H,) for vanilla and GRU cells, ``(h, c)`` for an LSTM; for any other cell with a
    ``hidden_size`` attribute, (hidden_size,). Dtype follows the recurrent weight.
    """
    inner = cell.cell if isinstance(cell, RecurrentScaled) else cell
    hidden = getattr(inner, "hidden_size", None)
    if hidden is None:
        raise TypeError(
            f"zero_carry: {type(cell).__name__} has no `hidden_size`; build carry0 by hand."
        )
    if dtype is None:
        dtype = recurrent_weight(inner).dtype if hasattr(inner, "weight_hh") else None
    dtype = _float_dtype(dtype)
    if isinstance(inner, eqx.nn.LSTMCell):
        return (jnp.zeros((hidden,), dtype), jnp.zeros((hidden,), dtype))
    return jnp.zeros((hidden,), dtype)


def flatten_carry(carry: PyTree) -> tuple[Float[Array, " S"], Callable[[Array], PyTree]]:
    """Flatten a carry pytree to the state vector ``s`` of size S, and the inverse map.

    rnngrad's gradient analysis treats the whole carry as the state (for an LSTM,
    ``s = concat(h, c)``, size 2H), so gated memory shows up where it lives.
    """
    return ravel_pytree(carry)


def state_size(carry: PyTree) -> int:
    """S, the number of scalars in a carry."""
    return int(sum(jnp.size(leaf) for leaf in jax.tree_util.tree_leaves(carry)))


def nonlinearity_gain(cell: Any) -> float:
    """γ = sup |φ'| of a vanilla or echo state cell's nonlinearity (1 for tanh, ReLU, identity).

    **Raises:** ``TypeError`` for a callable nonlinearity, whose γ rnngrad cannot know.
    """
    from ._esn import EchoStateCell  # local import: _esn imports this module

    inner = cell.cell if isinstance(cell, RecurrentScaled) else cell
    if not isinstance(inner, (VanillaCell, EchoStateCell)):
        raise TypeError(
            f"nonlinearity_gain needs a VanillaCell or EchoStateCell, got {type(cell).__name__}."
        )
    if not isinstance(inner.nonlinearity, str):
        raise TypeError(
            "nonlinearity_gain: the cell has a callable nonlinearity; pass its sup|φ'| "
            "explicitly as `gamma=`."
        )
    return _NONLINEARITIES[inner.nonlinearity][1]
