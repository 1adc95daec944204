"""Theory beside the measurements: closed-form predictions and bounds.

Pascanu, Mikolov & Bengio (2013)'s per-step rate ``‖W_rec‖₂ γ``, its sufficient
condition for vanishing gradients and the resulting bound on ``‖∂L_t/∂s_k‖``; the
mean-field prediction for random networks (``meanfield``: q*, χ₁, the rate ½ ln χ₁;
``critical_gain``: the edge of chaos); the curse of memory of linear recurrences
(``curse_of_memory``, with ``measured_sensitivity`` its measured counterpart).

>>> import jax, rnngrad as rg
>>> cell = rg.VanillaCell(1, 4, weight_hh_init=rg.init.orthogonal(0.5), key=jax.random.key(0))
>>> bool(rg.theory.vanishing_guaranteed(cell))
True
"""

from ._meanfield import (
    MeanField as MeanField,
    MeanFieldComparison as MeanFieldComparison,
    compare_meanfield as compare_meanfield,
    critical_gain as critical_gain,
    meanfield as meanfield,
    random_vanilla_network as random_vanilla_network,
)
from ._memory import (
    MemoryMoments as MemoryMoments,
    ParameterSensitivity as ParameterSensitivity,
    curse_of_memory as curse_of_memory,
    measured_sensitivity as measured_sensitivity,
)
from ._theory import (
    pascanu_bound as pascanu_bound,
    pascanu_rate as pascanu_rate,
    vanishing_guaranteed as vanishing_guaranteed,
)

__all__ = [
    "MeanField",
    "MeanFieldComparison",
    "MemoryMoments",
    "ParameterSensitivity",
    "compare_meanfield",
    "critical_gain",
    "curse_of_memory",
    "meanfield",
    "measured_sensitivity",
    "pascanu_bound",
    "pascanu_rate",
    "random_vanilla_network",
    "vanishing_guaranteed",
]
