"""Gradient clipping as an optax chain."""

from __future__ import annotations

import optax

from .._checks import Checked, check_positive_int, check_real_scalar, describe

__all__ = ["clipped"]


def clipped(
    optimizer: Checked[optax.GradientTransformation],
    *,
    global_norm: Checked[float | None] = None,
    value: Checked[float | None] = None,
    adaptive: Checked[float | None] = None,
    skip_nonfinite: Checked[int | None] = None,
) -> optax.GradientTransformation:
    """``optax.chain`` of the chosen clipping transforms before `optimizer`.

    - `global_norm`: ``optax.clip_by_global_norm`` (Pascanu et al. 2013's rescaling).
    - `value`: ``optax.clip`` (element-wise, Mikolov 2012).
    - `adaptive`: ``optax.adaptive_grad_clip`` (Brock et al. 2021, unit-wise ratio).

    Each threshold is injected (``optax.inject_hyperparams``) under optax's name for it:
    ``max_norm``, ``max_delta``, ``clipping``. It is a value in the optimizer state, so
    ``rg.train(..., hyperparams={"max_norm": 0.5})`` or ``grid={"max_norm": [...]}``
    changes it without recompiling.
    - `skip_nonfinite`: wrap everything in ``optax.apply_if_finite`` with this many
      consecutive non-finite steps tolerated; skipped updates are counted in
      ``TrainResult.skipped``.

    **Returns:** an optax ``GradientTransformation``.

    **Raises:** ``ValueError`` for a threshold <= 0 or non-finite; ``TypeError`` for an
    `optimizer` that is not an optax ``GradientTransformation``.

    >>> import optax, rnngrad as rg
    >>> opt = rg.clipped(optax.sgd(0.1), global_norm=1.0)
    >>> isinstance(opt, optax.GradientTransformation)
    True
    """
    if not isinstance(optimizer, optax.GradientTransformation):
        hint = (
            f": use an optax optimizer, e.g. optax.{optimizer}(1e-3)"
            if isinstance(optimizer, str)
            else " (e.g. optax.sgd(0.01))"
        )
        raise TypeError(
            f"clipped: `optimizer` must be an optax GradientTransformation, got "
            f"{describe(optimizer)}{hint}."
        )
    chain = []
    if global_norm is not None:
        check_real_scalar("global_norm", global_norm, positive=True)
        chain.append(optax.inject_hyperparams(optax.clip_by_global_norm)(max_norm=global_norm))
    if value is not None:
        check_real_scalar("value", value, positive=True)
        chain.append(optax.inject_hyperparams(optax.clip)(max_delta=value))
    if adaptive is not None:
        check_real_scalar("adaptive", adaptive, positive=True)
        chain.append(optax.inject_hyperparams(optax.adaptive_grad_clip)(clipping=adaptive))
    chain.append(optimizer)
    out = optax.chain(*chain) if len(chain) > 1 else optimizer
    if skip_nonfinite is not None:
        out = optax.apply_if_finite(out, check_positive_int("skip_nonfinite", skip_nonfinite))
    return out
