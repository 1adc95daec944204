"""Matplotlib figures for rnngrad's standard results: plain arrays in, a ``Figure`` out.

One function per kind of figure; each draws into the Axes it is given (``ax=`` or
``axes=``) or a fresh ``matplotlib.figure.Figure``, returns the Figure, and leaves
pyplot's global state alone. :func:`save` writes a figure atomically. matplotlib is an
optional extra: ``pip install 'rnngrad[plot]'``.

>>> import numpy as np, rnngrad.plot as rgp
>>> fig = rgp.rates(np.linspace(0.5, 1.5, 5), np.linspace(-0.7, 0.1, 5), labels=["tanh"])
>>> fig.axes[0].get_xlabel()
'gain g'
"""

from ._plot import (
    contributions as contributions,
    curves as curves,
    lag_profiles as lag_profiles,
    phase_diagram as phase_diagram,
    rates as rates,
    save as save,
    spectra as spectra,
    state_space as state_space,
    success as success,
    training_curves as training_curves,
)

__all__ = [
    "contributions",
    "curves",
    "lag_profiles",
    "phase_diagram",
    "rates",
    "save",
    "spectra",
    "state_space",
    "success",
    "training_curves",
]
