"""rnngrad: exact gradient anatomy of recurrent networks in JAX.

How much gradient reaches step k from the loss at step t, and why: exact per-timestep
contributions, Jacobian products and their spectra, Lyapunov exponents, vectorised
sweeps over the recurrent weight scale, and the classic remedies.

Core names live here; topics have namespaces: ``rg.esn`` (echo state networks),
``rg.theory`` (closed-form predictions), ``rg.tasks`` (benchmark tasks and series),
``rg.init`` (initialisers), ``rg.plot`` (figures; matplotlib is needed when one is drawn).
"""

from importlib.metadata import PackageNotFoundError, version as _version

from . import esn as esn, plot as plot, tasks as tasks, theory as theory
from ._analysis import (
    SuccessStats as SuccessStats,
    growth_rate as growth_rate,
    success_stats as success_stats,
    task_lag_profile as task_lag_profile,
)
from ._anatomy import (
    Contributions as Contributions,
    FinalProfile as FinalProfile,
    final_step_profile as final_step_profile,
    jacobian_spectral_norms as jacobian_spectral_norms,
    lag_profile as lag_profile,
    state_jacobians as state_jacobians,
    timestep_contributions as timestep_contributions,
)
from ._checks import NumericalWarning as NumericalWarning
from ._dynamics import (
    LyapunovSpectrum as LyapunovSpectrum,
    ProductSpectra as ProductSpectra,
    jacobian_product_spectra as jacobian_product_spectra,
    lyapunov_spectrum as lyapunov_spectrum,
)
from ._fixed_points import FixedPoints as FixedPoints, fixed_points as fixed_points
from ._sweep import SweepResult as SweepResult, load_sweep as load_sweep, sweep as sweep
from ._tasks import (
    AbstractTask as AbstractTask,
    AddingTask as AddingTask,
    CopyTask as CopyTask,
    DelayedXORTask as DelayedXORTask,
    FlipFlopTask as FlipFlopTask,
    MultiplicationTask as MultiplicationTask,
    TemporalOrderTask as TemporalOrderTask,
    make_task as make_task,
)
from ._train import (
    BPTT as BPTT,
    AbstractObjective as AbstractObjective,
    AbstractPenalty as AbstractPenalty,
    Flossing as Flossing,
    Omega as Omega,
    RNNModel as RNNModel,
    TrainGrid as TrainGrid,
    TrainKeys as TrainKeys,
    TrainResult as TrainResult,
    TruncatedBPTT as TruncatedBPTT,
    clipped as clipped,
    floss as floss,
    flossing_penalty as flossing_penalty,
    pascanu_omega as pascanu_omega,
    train as train,
    train_keys as train_keys,
    truncated_loss as truncated_loss,
)
from ._unroll import final_carry as final_carry, unroll as unroll
from .cells import (
    AbstractCell as AbstractCell,
    DiagonalLinearCell as DiagonalLinearCell,
    EchoStateCell as EchoStateCell,
    EncodedCell as EncodedCell,
    IndRNNCell as IndRNNCell,
    LRUCell as LRUCell,
    MinGRUCell as MinGRUCell,
    MinLSTMCell as MinLSTMCell,
    VanillaCell as VanillaCell,
    chrono_lstm as chrono_lstm,
    flatten_carry as flatten_carry,
    fold_recurrent_scale as fold_recurrent_scale,
    gru as gru,
    init as init,
    init_carry as init_carry,
    irnn as irnn,
    lstm as lstm,
    orthogonal_rnn as orthogonal_rnn,
    recurrent_weight as recurrent_weight,
    scale_recurrent as scale_recurrent,
    spectral_rnn as spectral_rnn,
    state_size as state_size,
)

try:
    __version__ = _version("rnngrad")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"


__all__ = [
    # namespaces
    "esn",
    "init",
    "plot",
    "tasks",
    "theory",
    # cells and the cell protocol
    "AbstractCell",
    "DiagonalLinearCell",
    "EchoStateCell",
    "EncodedCell",
    "IndRNNCell",
    "LRUCell",
    "MinGRUCell",
    "MinLSTMCell",
    "VanillaCell",
    "chrono_lstm",
    "flatten_carry",
    "fold_recurrent_scale",
    "gru",
    "init_carry",
    "irnn",
    "lstm",
    "orthogonal_rnn",
    "recurrent_weight",
    "scale_recurrent",
    "spectral_rnn",
    "state_size",
    # unrolling and gradient anatomy
    "unroll",
    "final_carry",
    "Contributions",
    "FinalProfile",
    "final_step_profile",
    "jacobian_spectral_norms",
    "lag_profile",
    "state_jacobians",
    "timestep_contributions",
    # dynamics
    "LyapunovSpectrum",
    "FixedPoints",
    "fixed_points",
    "ProductSpectra",
    "jacobian_product_spectra",
    "lyapunov_spectrum",
    # errors and flags
    "NumericalWarning",
    # analysis
    "SuccessStats",
    "growth_rate",
    "success_stats",
    "task_lag_profile",
    # sweeps
    "SweepResult",
    "load_sweep",
    "sweep",
    # tasks
    "AbstractTask",
    "AddingTask",
    "CopyTask",
    "DelayedXORTask",
    "FlipFlopTask",
    "MultiplicationTask",
    "TemporalOrderTask",
    "make_task",
    # training
    "AbstractObjective",
    "AbstractPenalty",
    "BPTT",
    "Flossing",
    "Omega",
    "RNNModel",
    "TrainGrid",
    "TrainKeys",
    "TrainResult",
    "TruncatedBPTT",
    "clipped",
    "floss",
    "flossing_penalty",
    "pascanu_omega",
    "train",
    "train_keys",
    "truncated_loss",
]
