"""Training as composable parts: model, objectives, penalties, loop, checkpoints, result."""

from ._loop import train as train
from ._model import RNNModel as RNNModel
from ._objectives import (
    BPTT as BPTT,
    AbstractObjective as AbstractObjective,
    TruncatedBPTT as TruncatedBPTT,
    truncated_loss as truncated_loss,
)
from ._optim import clipped as clipped
from ._penalties import (
    AbstractPenalty as AbstractPenalty,
    Flossing as Flossing,
    Omega as Omega,
    floss as floss,
    flossing_penalty as flossing_penalty,
    pascanu_omega as pascanu_omega,
)
from ._result import (
    TrainGrid as TrainGrid,
    TrainKeys as TrainKeys,
    TrainResult as TrainResult,
    train_keys as train_keys,
)
