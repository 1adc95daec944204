"""rnngrad: exact gradient anatomy of recurrent networks in JAX.

How much gradient reaches step k from the loss at step t, and why: exact per-timestep
contributions, Jacobian products and their spectra, Lyapunov exponents, vectorised
sweeps over the recurrent weight scale, and the classic remedies.
"""

from importlib.metadata import PackageNotFoundError, version as _version

from . import _init as init
from ._anatomy import (
    Contributions as Contributions,
    FinalProfile as FinalProfile,
    ProductSpectra as ProductSpectra,
    final_step_profile as final_step_profile,
    jacobian_product_spectra as jacobian_product_spectra,
    jacobian_spectral_norms as jacobian_spectral_norms,
    lag_profile as lag_profile,
    state_jacobians as state_jacobians,
    timestep_contributions as timestep_contributions,
)
from ._cells import (
    RecurrentScaled as RecurrentScaled,
    VanillaCell as VanillaCell,
    flatten_carry as flatten_carry,
    fold_recurrent_scale as fold_recurrent_scale,
    nonlinearity_gain as nonlinearity_gain,
    recurrent_weight as recurrent_weight,
    scale_recurrent as scale_recurrent,
    state_size as state_size,
    zero_carry as zero_carry,
)
from ._esn import (
    EchoStateCell as EchoStateCell,
    EchoStateCheck as EchoStateCheck,
    echo_state_property as echo_state_property,
    effective_spectral_radius as effective_spectral_radius,
    esn_generate as esn_generate,
    esn_predict as esn_predict,
    esn_states as esn_states,
    memory_capacity as memory_capacity,
    memory_curve as memory_curve,
    nrmse as nrmse,
    readout_apply as readout_apply,
    ridge_readout as ridge_readout,
)
from ._io import atomic_write as atomic_write
from ._lyapunov import lyapunov_spectrum as lyapunov_spectrum
from ._mackey_glass import mackey_glass as mackey_glass
from ._penalties import (
    floss as floss,
    flossing_penalty as flossing_penalty,
    pascanu_omega as pascanu_omega,
)
from ._recipes import (
    chrono_lstm as chrono_lstm,
    gru as gru,
    irnn as irnn,
    lstm as lstm,
    orthogonal_rnn as orthogonal_rnn,
    spectral_rnn as spectral_rnn,
)
from ._sweep import SweepResult as SweepResult, load_sweep as load_sweep, sweep as sweep
from ._tasks import (
    TASK_NAMES as TASK_NAMES,
    AbstractTask as AbstractTask,
    AddingTask as AddingTask,
    CopyTask as CopyTask,
    MultiplicationTask as MultiplicationTask,
    SequenceTarget as SequenceTarget,
    TemporalOrderTask as TemporalOrderTask,
    make_task as make_task,
)
from ._theory import (
    pascanu_bound as pascanu_bound,
    pascanu_rate as pascanu_rate,
    vanishing_guaranteed as vanishing_guaranteed,
)
from ._train import (
    RNNModel as RNNModel,
    TrainResult as TrainResult,
    clipped as clipped,
    full_loss as full_loss,
    make_step_loss as make_step_loss,
    readout_features as readout_features,
    step_targets as step_targets,
    train as train,
    truncated_loss as truncated_loss,
    wilson_interval as wilson_interval,
)
from ._unroll import final_carry as final_carry, unroll as unroll

try:
    __version__ = _version("rnngrad")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

__all__ = [
    "init",
    "Contributions",
    "FinalProfile",
    "ProductSpectra",
    "final_step_profile",
    "jacobian_product_spectra",
    "jacobian_spectral_norms",
    "lag_profile",
    "lyapunov_spectrum",
    "pascanu_bound",
    "pascanu_rate",
    "state_jacobians",
    "SweepResult",
    "TASK_NAMES",
    "AbstractTask",
    "AddingTask",
    "CopyTask",
    "MultiplicationTask",
    "SequenceTarget",
    "TemporalOrderTask",
    "make_task",
    "EchoStateCell",
    "EchoStateCheck",
    "echo_state_property",
    "effective_spectral_radius",
    "esn_generate",
    "esn_predict",
    "esn_states",
    "mackey_glass",
    "memory_capacity",
    "memory_curve",
    "nrmse",
    "readout_apply",
    "ridge_readout",
    "atomic_write",
    "floss",
    "flossing_penalty",
    "pascanu_omega",
    "gru",
    "irnn",
    "chrono_lstm",
    "lstm",
    "orthogonal_rnn",
    "spectral_rnn",
    "RNNModel",
    "TrainResult",
    "clipped",
    "full_loss",
    "make_step_loss",
    "readout_features",
    "step_targets",
    "train",
    "truncated_loss",
    "wilson_interval",
    "load_sweep",
    "sweep",
    "timestep_contributions",
    "vanishing_guaranteed",
    "RecurrentScaled",
    "VanillaCell",
    "final_carry",
    "flatten_carry",
    "fold_recurrent_scale",
    "nonlinearity_gain",
    "recurrent_weight",
    "scale_recurrent",
    "state_size",
    "unroll",
    "zero_carry",
]
