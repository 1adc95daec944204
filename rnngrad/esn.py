"""Echo state networks: reservoir states, ridge readouts, prediction, ESP and memory.

The reservoir itself is :class:`rnngrad.EchoStateCell` (also re-exported here).

References: H. Jaeger, "The echo state approach to analysing and training recurrent
neural networks", GMD Report 148 (2001); "Short term memory in echo state networks",
GMD Report 152 (2002); M. Lukoševičius, "A practical guide to applying echo state
networks" (2012).

>>> import jax, jax.numpy as jnp, rnngrad as rg
>>> cell = rg.EchoStateCell(1, 20, key=jax.random.key(0))
>>> rg.esn.states(cell, jnp.ones((50, 1)), washout=10).shape
(40, 20)
"""

from ._esn import (
    EchoStateCheck as EchoStateCheck,
    RidgeSelection as RidgeSelection,
    echo_state_property as echo_state_property,
    effective_spectral_radius as effective_spectral_radius,
    generate as generate,
    memory_capacity as memory_capacity,
    memory_curve as memory_curve,
    nrmse as nrmse,
    predict as predict,
    readout_apply as readout_apply,
    ridge_readout as ridge_readout,
    select_ridge as select_ridge,
    states as states,
)
from .cells import EchoStateCell as EchoStateCell

__all__ = [
    "EchoStateCell",
    "EchoStateCheck",
    "RidgeSelection",
    "echo_state_property",
    "effective_spectral_radius",
    "generate",
    "memory_capacity",
    "memory_curve",
    "nrmse",
    "predict",
    "readout_apply",
    "ridge_readout",
    "select_ridge",
    "states",
]
