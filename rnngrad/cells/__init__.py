"""Recurrent cells and the cell protocol.

Every cell is an :class:`AbstractCell` (``__call__(x, carry)``, ``init_carry()``, and the
optional ``scale_recurrent``, ``fold_recurrent_scale``, ``recurrent_weight``, ``gain``,
``output``, ``carry_pullback``, and the diagonal protocol
``diagonal_step``/``to_diagonal``/``from_diagonal`` of cells linear in their carry) or is
adapted to one here: equinox's ``GRUCell``/``LSTMCell`` in ``_gated``.
This subpackage is the only place in rnngrad that looks at a cell's class.
"""

from . import _init as init
from ._abstract import AbstractCell as AbstractCell, Cell as Cell
from ._echo_state import EchoStateCell as EchoStateCell
from ._encoded import EncodedCell as EncodedCell
from ._indrnn import IndRNNCell as IndRNNCell
from ._lru import LRUCell as LRUCell
from ._minimal import (
    DiagonalLinearCell as DiagonalLinearCell,
    MinGRUCell as MinGRUCell,
    MinLSTMCell as MinLSTMCell,
)
from ._protocol import (
    carry_pullback as carry_pullback,
    cell_output as cell_output,
    check_cell as check_cell,
    check_diagonal as check_diagonal,
    diagonal_step as diagonal_step,
    flatten_carry as flatten_carry,
    fold_recurrent_scale as fold_recurrent_scale,
    from_diagonal as from_diagonal,
    gain as gain,
    has_carry_pullback as has_carry_pullback,
    has_diagonal_step as has_diagonal_step,
    init_carry as init_carry,
    recurrent_weight as recurrent_weight,
    scale_recurrent as scale_recurrent,
    state_size as state_size,
    to_diagonal as to_diagonal,
)
from ._recipes import (
    chrono_lstm as chrono_lstm,
    gru as gru,
    irnn as irnn,
    lstm as lstm,
    orthogonal_rnn as orthogonal_rnn,
    spectral_rnn as spectral_rnn,
)
from ._vanilla import VanillaCell as VanillaCell

__all__ = [
    "AbstractCell",
    "Cell",
    "DiagonalLinearCell",
    "EchoStateCell",
    "EncodedCell",
    "IndRNNCell",
    "LRUCell",
    "MinGRUCell",
    "MinLSTMCell",
    "VanillaCell",
    "carry_pullback",
    "cell_output",
    "check_cell",
    "check_diagonal",
    "chrono_lstm",
    "diagonal_step",
    "flatten_carry",
    "fold_recurrent_scale",
    "from_diagonal",
    "gain",
    "gru",
    "has_carry_pullback",
    "has_diagonal_step",
    "init",
    "init_carry",
    "irnn",
    "lstm",
    "orthogonal_rnn",
    "recurrent_weight",
    "scale_recurrent",
    "spectral_rnn",
    "state_size",
    "to_diagonal",
]
