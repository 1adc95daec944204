"""``AbstractCell``: the protocol every rnngrad cell follows (functions in ``_protocol``)."""

from __future__ import annotations

import abc
from typing import Annotated, Any

import equinox as eqx
from jaxtyping import PyTree

__all__ = ["AbstractCell", "Cell"]


class AbstractCell(eqx.Module):
    """The protocol every rnngrad cell follows (an abstract ``eqx.Module``).

    Required:

    - ``__call__(self, x, carry) -> carry``: one unbatched step. Batches, seeds and grids
      are ``jax.vmap`` axes.
    - ``init_carry(self) -> carry``: the all-zero carry, with the structure, shapes and
      dtype that ``__call__`` returns. The state rnngrad analyses is the whole flattened
      carry (for an LSTM, ``(h, c)``).

    Optional (a tool that needs one raises a ``TypeError`` naming it):

    - ``scale_recurrent(self, scale) -> cell``: the same cell with its recurrence scaled
      by `scale`; must work under ``jax.vmap`` over `scale` with the base weights shared.
      Needed by :func:`rnngrad.scale_recurrent` (and so by gain sweeps).
    - ``fold_recurrent_scale(self) -> cell``: the scale folded into the weights, so that
      training does not also train the scale (used by ``rg.train``).
    - ``recurrent_weight`` (property): the effective ``W_rec``, scale included.
    - ``gain`` (property): sup |φ'| of the nonlinearity (Pascanu et al.'s γ).
    - ``output(self, carry) -> (features,)``: what a readout sees (default: the whole
      flattened carry).
    - ``carry_pullback(self, x, carry, new_carry, cotangent) -> cotangent``: the step's
      vector-Jacobian product with respect to the carry, free to read the step's output
      ``new_carry`` instead of running the step again (default: ``jax.vjp`` of the step).
      The gradient-anatomy scans (``final_step_profile``, ``timestep_contributions``)
      pull every cotangent back through it.

    Optional, for cells linear in their carry (the LRU, minGRU/minLSTM, the diagonal
    linear cell; an ``EncodedCell`` around one of them):

    - ``diagonal_step(self, x) -> (a, b)``: the step as ``z' = a ⊙ z + b`` in diagonal
      coordinates z (complex for the LRU), both of shape (modes,); a property that
      returns None is read as "not linear in the carry". Needed by
      ``rg.unroll(..., parallel=True)`` (an associative scan) and by
      ``rg.timestep_contributions(..., method="diagonal")`` (the closed form).
    - ``to_diagonal(self, carry) -> z`` and ``from_diagonal(self, z) -> carry``: the
      change of coordinates and its inverse, keeping any leading (time) axes.

    A cell that does not subclass this class but has ``__call__`` and ``init_carry``
    works everywhere too; equinox's ``GRUCell`` and ``LSTMCell`` are adapted in one place.

    >>> import equinox as eqx, jax, jax.numpy as jnp, rnngrad as rg
    >>> class Leaky(rg.AbstractCell):
    ...     a: float = 0.5
    ...     def __call__(self, x, carry):
    ...         return self.a * carry + x
    ...     def init_carry(self):
    ...         return jnp.zeros(3)
    >>> rg.unroll(Leaky(), jnp.ones((4, 3)), rg.init_carry(Leaky()))[-1]
    Array([1.875, 1.875, 1.875], dtype=float64)
    """

    @abc.abstractmethod
    def __call__(self, x: Any, carry: PyTree) -> PyTree:
        """One step: input `x` and `carry` -> the next carry."""

    @abc.abstractmethod
    def init_carry(self) -> PyTree:
        """The all-zero carry of the right structure, shapes and dtype."""


Cell = Annotated[Any, "a recurrent cell following the protocol of rg.AbstractCell"]
"""The type of a `cell` argument: an :class:`AbstractCell`, equinox's ``GRUCell`` or
``LSTMCell``, or any module with ``__call__(x, carry)`` and ``init_carry()``. (Not a
class check: rnngrad asks the cell for its methods, see ``_protocol``.)"""
