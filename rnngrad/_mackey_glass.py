"""The Mackey-Glass delay differential equation, integrated with RK4 under ``lax.scan``."""

from __future__ import annotations

import functools
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from ._checks import Checked, check_positive_int, check_real_scalar, describe

__all__ = ["mackey_glass"]

_MIDPOINTS = ("linear", "hold")


def mackey_glass(
    n_samples: Checked[int],
    *,
    tau: Checked[float] = 17.0,
    a: Any = 0.2,
    b: Any = 0.1,
    n: Any = 10,
    x0: Any = 1.2,
    dt: Checked[float] = 1.0,
    subsample: Checked[int] = 1,
    midpoint: Checked[str] = "linear",
    dtype: Any = None,
) -> Float[Array, " n_samples"]:
    """A Mackey-Glass time series ``dx/dt = a x(t−τ) / (1 + x(t−τ)^n) − b x(t)``.

    Integrated with classic fourth-order Runge-Kutta with step `dt` in one ``lax.scan``
    (jittable; `a`, `b`, `n` and `x0` may be traced, e.g. ``vmap`` over `x0`). The history
    before t = 0 is the constant `x0`. Delayed values are read from the RK grid kept in a
    ring buffer of ``τ/dt + 1`` past values, so `tau` must be a multiple of `dt`. The RK
    stages at ``t`` and ``t + dt`` use the grid values ``x(t−τ)`` and ``x(t−τ+dt)``; the
    two midpoint stages use their mean (``midpoint="linear"``, second-order in the delay
    term) or hold ``x(t−τ)`` for all four stages (``midpoint="hold"``, the scheme of
    reservoirpy's ``mackey_glass``). The series is sampled every `subsample` RK steps,
    i.e. at ``t = 0, Δ, 2Δ, ...`` with ``Δ = dt · subsample``; sample 0 is `x0`.

    With the defaults (τ = 17, a = 0.2, b = 0.1, n = 10) the system is chaotic, on an
    attractor inside (0, 1.5) — the benchmark of Jaeger & Haas (2004).

    **Arguments:**

    - `n_samples`: number of samples, a positive int.
    - `tau`: the delay τ > 0, a multiple of `dt` (Python number: it sets the buffer size).
    - `a`, `b`, `n`: the equation's constants (an int `n` uses an exact integer power).
    - `x0`: the initial value and constant history.
    - `dt`: RK4 step > 0 (default 1; e.g. 0.1 with ``subsample=10`` for a finer solution
      sampled at unit time).
    - `subsample`: RK steps per output sample, a positive int.
    - `midpoint`: ``"linear"`` (default) or ``"hold"``, the delayed value at the RK
      midpoint stages (see above).
    - `dtype`: float dtype; default float64 under ``jax_enable_x64``, else float32.

    **Returns:** (n_samples,).

    **Raises:** ``ValueError`` for ``tau <= 0``, ``dt <= 0``, `tau` not a multiple of `dt`,
    non-finite constants, a non-positive `n_samples`/`subsample`, or an unknown
    `midpoint`; ``TypeError`` for a traced `tau` or `dt`.

    Reference: M. C. Mackey & L. Glass, "Oscillation and chaos in physiological control
    systems", Science 197 (1977); H. Jaeger & H. Haas, Science 304 (2004).

    >>> from rnngrad._mackey_glass import mackey_glass
    >>> x = mackey_glass(1000)
    >>> x.shape, round(float(x[0]), 6), bool(0.0 < x.min() and x.max() < 1.5)
    ((1000,), 1.2, True)
    """
    n_samples = check_positive_int("n_samples", n_samples)
    subsample = check_positive_int("subsample", subsample)
    for name, value in (("tau", tau), ("dt", dt)):
        if isinstance(value, jax.core.Tracer):
            raise TypeError(
                f"`{name}` must be a Python number (it fixes the size of the delay buffer), "
                f"got a traced {describe(value)}."
            )
        check_real_scalar(name, value, positive=True)
    for name, value in (("a", a), ("b", b), ("n", n), ("x0", x0)):
        check_real_scalar(name, value)
    if midpoint not in _MIDPOINTS:
        raise ValueError(f"`midpoint` must be one of {_MIDPOINTS}, got {midpoint!r}.")
    ratio = float(tau) / float(dt)
    delay = round(ratio)
    if delay < 1 or not math.isclose(ratio, delay, rel_tol=1e-9, abs_tol=1e-9):
        raise ValueError(
            f"`tau` must be a positive multiple of `dt` (delayed values are read from the RK "
            f"grid), got tau={tau}, dt={dt} (tau/dt = {ratio})."
        )
    dtype = jnp.asarray(0.0).dtype if dtype is None else jnp.dtype(dtype)
    integer_n = isinstance(n, (int, np.integer)) and not isinstance(n, bool)
    return _integrate(
        *(jnp.asarray(v, dtype) for v in (a, b, n, x0, dt)),
        n_samples=n_samples,
        delay=delay,
        subsample=subsample,
        midpoint=midpoint,
        int_exponent=int(n) if integer_n else None,
    )


@functools.partial(
    jax.jit, static_argnames=("n_samples", "delay", "subsample", "midpoint", "int_exponent")
)
def _integrate(
    a: Array,
    b: Array,
    n: Array,
    x0: Array,
    h: Array,
    *,
    n_samples: int,
    delay: int,
    subsample: int,
    midpoint: str,
    int_exponent: int | None,
) -> Array:
    """RK4 for the Mackey-Glass equation, compiled once per static configuration."""

    def power(v: Array) -> Array:
        return v**int_exponent if int_exponent is not None else jnp.power(v, n)

    def f(x: Array, x_delayed: Array) -> Array:
        return a * x_delayed / (1 + power(x_delayed)) - b * x

    size = delay + 1  # ring buffer: x_{i-delay} .. x_i

    def rk_step(carry: tuple[Array, Array, Array], _: None) -> tuple[tuple, None]:
        x, buf, i = carry
        buf = buf.at[i % size].set(x)
        d0 = buf[(i + 1) % size]  # x(t - tau)
        if midpoint == "hold":
            dm = d1 = d0
        else:
            d1 = buf[(i + 2) % size]  # x(t - tau + dt)
            dm = (d0 + d1) / 2
        k1 = f(x, d0)
        k2 = f(x + h / 2 * k1, dm)
        k3 = f(x + h / 2 * k2, dm)
        k4 = f(x + h * k3, d1)
        x = x + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        return (x, buf, i + 1), None

    def sample(carry: tuple[Array, Array, Array], _: None) -> tuple[tuple, Array]:
        x = carry[0]
        carry, _ = jax.lax.scan(rk_step, carry, None, length=subsample)
        return carry, x

    init = (x0, jnp.full((size,), x0), jnp.zeros((), jnp.int32))
    _, xs = jax.lax.scan(sample, init, None, length=n_samples)
    return xs
