"""The one adapter of equinox's gated cells (``eqx.nn.GRUCell``, ``eqx.nn.LSTMCell``).

equinox's cells have the right call convention (``cell(x, carry) -> carry``) but not the
rest of the protocol; this module supplies it, so that users pass equinox's cells as
they are and no other module of rnngrad looks at a cell's class.
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float, PyTree

from ._abstract import AbstractCell, Cell

_GATED = (eqx.nn.GRUCell, eqx.nn.LSTMCell)


def is_gated(cell: Cell) -> bool:
    """Whether `cell` is one of equinox's own gated cells (adapted here)."""
    return isinstance(cell, _GATED)


def init_carry(cell: eqx.nn.GRUCell | eqx.nn.LSTMCell) -> PyTree:
    """Zero carry: (H,) for the GRU, ``(h, c)`` for the LSTM; dtype of ``weight_hh``."""
    zeros = jnp.zeros((cell.hidden_size,), cell.weight_hh.dtype)
    return (zeros, zeros) if isinstance(cell, eqx.nn.LSTMCell) else zeros


def output(cell: eqx.nn.GRUCell | eqx.nn.LSTMCell, carry: PyTree) -> Array:
    """What a readout sees: ``h`` (the LSTM's cell state ``c`` stays inside)."""
    return carry[0] if isinstance(cell, eqx.nn.LSTMCell) else carry


def recurrent_weight(cell: eqx.nn.GRUCell | eqx.nn.LSTMCell) -> Array:
    """``weight_hh``: (3H, H) for the GRU, (4H, H) for the LSTM."""
    return cell.weight_hh


def scale_recurrent(cell: eqx.nn.GRUCell | eqx.nn.LSTMCell, scale: Any) -> RecurrentScaled:
    """The cell wrapped so that its ``weight_hh`` acts as ``scale · weight_hh``."""
    return RecurrentScaled(cell, jnp.asarray(scale, cell.weight_hh.dtype))


class RecurrentScaled(AbstractCell):
    """An equinox gated cell whose ``weight_hh`` acts as ``scale · weight_hh``.

    For the LSTM, ``h`` enters only through ``W_hh h``, so the scale is applied to ``h``
    and the base weight stays shared under ``vmap``; the GRU also uses ``h`` outside the
    product, so its weight is scaled at call time.
    """

    cell: eqx.nn.GRUCell | eqx.nn.LSTMCell
    scale: Float[Array, ""]

    def __call__(self, x: Array, carry: PyTree, *, key: Any = None) -> PyTree:
        del key
        if isinstance(self.cell, eqx.nn.LSTMCell):
            h, c = carry
            return self.cell(x, (self.scale * h, c))
        scaled = eqx.tree_at(lambda c: c.weight_hh, self.cell, self.scale * self.cell.weight_hh)
        return scaled(x, carry)

    def init_carry(self) -> PyTree:
        return init_carry(self.cell)

    def output(self, carry: PyTree) -> Array:
        return output(self.cell, carry)

    @property
    def recurrent_weight(self) -> Array:
        return self.scale * self.cell.weight_hh

    def scale_recurrent(self, scale: Any) -> RecurrentScaled:
        """Compose a further scale."""
        return RecurrentScaled(self.cell, self.scale * jnp.asarray(scale, self.scale.dtype))

    def fold_recurrent_scale(self) -> eqx.nn.GRUCell | eqx.nn.LSTMCell:
        """The plain equinox cell with the scale folded into ``weight_hh``."""
        return eqx.tree_at(lambda c: c.weight_hh, self.cell, self.recurrent_weight)
