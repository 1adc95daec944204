"""``EncodedCell``: a per-step MLP encoder in front of any cell (the LRU's block input).

A recurrence linear in its *input* (the LRU, a diagonal linear cell) sums linear
features of the past: it cannot form a product such as the adding problem's
``value × marker`` by itself. Deep state-space and LRU models (Orvieto et al. 2023,
Section 2; Gu et al. 2022) put a position-wise nonlinear map between recurrences; this
wrapper is the smallest such block: ``cell(MLP(x), carry)``. The carry, and so every
tool's state, is the inner cell's; a cell linear in its carry stays linear in it (the
encoder only changes ``b`` of ``diagonal_step``), so the parallel scan and the
closed-form anatomy still apply.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
from jaxtyping import Array, Float, PRNGKeyArray, PyTree

from .._checks import (
    Checked,
    check_callable,
    check_int,
    check_key,
    describe,
)
from ._abstract import AbstractCell, Cell
from ._lru import check_input
from ._protocol import (
    carry_pullback,
    cell_output,
    check_cell,
    diagonal_step,
    fold_recurrent_scale,
    from_diagonal,
    gain,
    has_diagonal_step,
    init_carry,
    recurrent_weight,
    scale_recurrent,
    to_diagonal,
)

__all__ = ["EncodedCell"]


class EncodedCell(AbstractCell):
    """Any cell behind a position-wise MLP: ``carry' = cell(MLP(x), carry)``.

    The MLP is ``eqx.nn.MLP(input_size, cell.input_size, width, depth)`` (default one
    hidden layer of width ``cell.input_size``, GELU, linear output), applied to each step's
    input alone. Every protocol method is the inner cell's (``scale_recurrent`` scales
    the inner recurrence; ``carry_pullback`` pulls back through the inner cell;
    ``diagonal_step`` exists exactly when the inner cell has one, with ``b`` computed from
    the encoded input), so the analysis tools see the inner recurrence unchanged.

    **Arguments:**

    - `input_size`: the size of the raw input x (positive int).
    - `cell`: a cell following the protocol with an int ``input_size`` attribute.
    - `width`: the MLP's hidden width (default ``cell.input_size``); `depth`: its number
      of hidden layers (default 1; 0 gives a linear encoder).
    - `activation`: element-wise nonlinearity (default ``jax.nn.gelu``, as in the LRU
      paper's blocks).
    - `key`: a ``jax.random`` key (keyword only, as all options).

    **Raises:** ``TypeError`` for a non-cell, a cell without an int ``input_size``, a
    non-callable `activation` or a bad key; ``ValueError`` for non-positive sizes.

    >>> import jax, jax.numpy as jnp, rnngrad as rg
    >>> k1, k2 = jax.random.split(jax.random.key(0))
    >>> cell = rg.EncodedCell(2, rg.LRUCell(16, 8, key=k1), key=k2)
    >>> rg.unroll(cell, jnp.ones((5, 2)), rg.init_carry(cell)).shape
    (5, 16)
    """

    encoder: eqx.nn.MLP
    cell: Cell
    input_size: int = eqx.field(static=True)

    def __init__(
        self,
        input_size: Checked[int],
        cell: Cell,
        *,
        width: Checked[int | None] = None,
        depth: Checked[int] = 1,
        activation: Checked[Callable[[Array], Array]] = jax.nn.gelu,
        key: Checked[PRNGKeyArray],
    ):
        who = "EncodedCell"
        check_key("key", key, where=who)
        self.input_size = check_int("input_size", input_size, where=who)
        check_cell(cell)
        inner = getattr(cell, "input_size", None)
        if not isinstance(inner, int) or isinstance(inner, bool):
            raise TypeError(
                f"{who}: `cell` must have an int `input_size` (the encoder's output size), "
                f"got {describe(inner)} on {type(cell).__name__}."
            )
        width = inner if width is None else check_int("width", width, where=who)
        depth = check_int("depth", depth, minimum=0, where=who)
        check_callable("activation", activation, expected="array -> array", where=who)
        dtype = jax.tree_util.tree_leaves(init_carry(cell))[0].dtype
        self.encoder = eqx.nn.MLP(
            input_size, inner, width, depth, activation=activation, dtype=dtype, key=key
        )
        self.cell = cell

    def encode(self, x: Checked[Float[Array, " input"]]) -> Float[Array, " encoded"]:
        """The inner cell's input ``MLP(x)`` (cell.input_size,) for one step's `x`."""
        dtype = self.encoder.layers[0].weight.dtype
        return self.encoder(check_input("EncodedCell", "x", x, self.input_size, dtype))

    def __call__(self, x: Checked[Float[Array, " input"]], carry: PyTree) -> PyTree:
        """One step: ``cell(MLP(x), carry)``."""
        return self.cell(self.encode(x), carry)

    def init_carry(self) -> PyTree:
        """The inner cell's zero carry."""
        return init_carry(self.cell)

    def output(self, carry: PyTree) -> Float[Array, " features"]:
        """The inner cell's output features."""
        return cell_output(self.cell, carry)

    def scale_recurrent(self, scale: Any) -> EncodedCell:
        """This block with the inner recurrence scaled (vmappable over `scale`)."""
        return eqx.tree_at(lambda c: c.cell, self, scale_recurrent(self.cell, scale))

    def fold_recurrent_scale(self) -> EncodedCell:
        """This block with the inner cell's scale folded into its weights."""
        return eqx.tree_at(lambda c: c.cell, self, fold_recurrent_scale(self.cell))

    def carry_pullback(
        self,
        x: Checked[Float[Array, " input"]],
        carry: PyTree,
        new_carry: PyTree,
        cotangent: PyTree,
    ) -> PyTree:
        """The inner cell's pullback on ``MLP(x)`` (``jax.vjp`` of it when it has none)."""
        return carry_pullback(self.cell, self.encode(x), carry, new_carry, cotangent)

    @property
    def recurrent_weight(self) -> Array:
        """The inner cell's effective recurrent weight."""
        return recurrent_weight(self.cell)

    @property
    def gain(self) -> float:
        """The inner cell's sup |φ'|."""
        return gain(self.cell)

    @property
    def diagonal_step(self) -> Callable[[Array], tuple[Array, Array]] | None:
        """``x -> (a, b)`` of the inner cell on ``MLP(x)``, or None when the inner cell is
        not linear in its carry (so that ``has_diagonal_step`` answers for it)."""
        if not has_diagonal_step(self.cell):
            return None
        return lambda x: diagonal_step(self.cell, self.encode(x))

    def to_diagonal(self, carry: PyTree) -> Array:
        """The inner cell's diagonal coordinates of `carry`."""
        return to_diagonal(self.cell, carry)

    def from_diagonal(self, z: Array) -> PyTree:
        """The inner cell's carry of diagonal coordinates `z`."""
        return from_diagonal(self.cell, z)
