"""Fixed points and slow points of a cell under a constant input (Sussillo & Barak 2013).

Minimise ``q(s) = ½ ‖F(s, x) − s‖²`` over the flattened state s from many initial states
at once (optax, ``jax.vmap`` over the states, one compiled program), polish each result
with safeguarded Newton steps on ``F(s) − s = 0``, then de-duplicate and linearise.

Written here because the maintained options do not fit: the reference JAX code
(google-research/computation-thru-dynamics) imports ``jax.experimental.optimizers``, which
current JAX no longer ships, and Golub & Sussillo's FixedPointFinder is TensorFlow/PyTorch.
"""

from __future__ import annotations

import functools
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree
from jaxtyping import Array, Bool, Complex, Float, Int

from ._checks import Checked, check_int, check_real_scalar, describe
from .cells import Cell, check_cell, init_carry

__all__ = ["FixedPoints", "fixed_points"]


class FixedPoints(eqx.Module):
    """Fixed (and slow) points of a cell; see :func:`fixed_points`. M points, state size S.

    - `points`: (M, S) the distinct points (flattened carries), by increasing `residual`.
    - `residual`: (M,) ``q = ½ ‖F(s) − s‖²`` at each point.
    - `eigenvalues`: (M, S) complex eigenvalues of the Jacobian ``∂F/∂s`` at each point,
      by decreasing modulus.
    - `stable`: (M,) whether every eigenvalue lies inside the unit circle.
    - `slow`: (M,) True for a slow point (``tolerance <= q < slow_tolerance``), False for
      a fixed point (``q < tolerance``).
    - `counts`: (M,) how many initial states ended at each point.
    - `final_residuals`: (K,) q reached from each initial state (kept or not).
    """

    points: Float[Array, "M S"]
    residual: Float[Array, " M"]
    eigenvalues: Complex[Array, "M S"]
    stable: Bool[Array, " M"]
    slow: Bool[Array, " M"]
    counts: Int[Array, " M"]
    final_residuals: Float[Array, " K"]

    @property
    def spectral_radius(self) -> Float[Array, " M"]:
        """ρ(∂F/∂s) at each point: ``ln ρ`` is λ₁ of a trajectory resting there."""
        return jnp.abs(self.eigenvalues[:, 0])


@eqx.filter_jit
def _search(cell, x, starts, optimizer, steps, newton_steps):
    """Optimise q from every start (vmapped), then Newton-polish; (points, q)."""
    _, unravel = ravel_pytree(init_carry(cell))

    def step_map(s):
        return ravel_pytree(cell(x, unravel(s)))[0]

    def q(s):
        r = step_map(s) - s
        return 0.5 * jnp.sum(r * r)

    eye = jnp.eye(starts.shape[1], dtype=starts.dtype)

    def one(s0):
        def descend(carry, _):
            s, state = carry
            updates, state = optimizer.update(jax.grad(q)(s), state, s)
            return (optax.apply_updates(s, updates), state), None

        (s, _), _ = jax.lax.scan(descend, (s0, optimizer.init(s0)), None, length=steps)

        def newton(s, _):
            # Solve (J - I) δ = -(F(s) - s); keep the step only if it lowers q (near a
            # slow point, where F(s) ≠ s at the minimum, a Newton step can go astray).
            r = step_map(s) - s
            delta = jnp.linalg.solve(jax.jacfwd(step_map)(s) - eye, -r)
            candidate = s + delta
            better = jnp.all(jnp.isfinite(candidate)) & (q(candidate) < q(s))
            return jnp.where(better, candidate, s), None

        s, _ = jax.lax.scan(newton, s, None, length=newton_steps)
        return s, q(s)

    return jax.vmap(one)(starts)


@eqx.filter_jit
def _jacobians(cell, x, points):
    _, unravel = ravel_pytree(init_carry(cell))
    return jax.vmap(jax.jacfwd(lambda s: ravel_pytree(cell(x, unravel(s)))[0]))(points)


def fixed_points(
    cell: Cell,
    x: Any,
    initial_states: Checked[Float[Array, "K S"]],
    *,
    steps: Checked[int] = 1000,
    learning_rate: Checked[float] = 1e-2,
    optimizer: Checked[optax.GradientTransformation | None] = None,
    newton_steps: Checked[int] = 20,
    tolerance: Checked[float] = 1e-20,
    slow_tolerance: Checked[float | None] = None,
    unique_tolerance: Checked[float] = 1e-6,
) -> FixedPoints:
    """The fixed points (and, when asked, slow points) of ``s ↦ F(s, x)`` near given states.

    For each initial state, minimises ``q(s) = ½ ‖F(s, x) − s‖²`` on the flattened carry of
    any protocol cell (`steps` steps of Adam at `learning_rate`, or your `optimizer`),
    vmapped over the initial states in one compiled program, then takes up to
    `newton_steps` Newton steps on ``F(s) − s = 0`` (each kept only if it lowers q), which
    brings a fixed point to machine precision. Points with ``q < tolerance`` are fixed
    points; with `slow_tolerance`, points with ``q < slow_tolerance`` are kept too, as slow
    points (the "ghosts" along which the dynamics slows). Points closer than
    ``unique_tolerance · max(1, ‖p‖)`` are one (the lowest q represents them); each gets
    the eigenvalues of ``∂F/∂s`` (``jax.jacfwd``) and a stability flag.

    Gradient descent on q finds unstable fixed points as well as stable ones (all are
    minima with q = 0), so start from states the network visits (e.g. a trajectory's
    states plus a little noise) and from a wide spread.

    Eager only: the number of distinct points depends on the values (the search inside is
    one jitted call).

    **Arguments:**

    - `cell`: any cell following the protocol; its carry must be floating.
    - `x`: the constant input (input_size,), e.g. zeros for the autonomous dynamics.
    - `initial_states`: (K, S) flattened states (``rg.flatten_carry`` of carries), S the
      cell's state size.
    - `steps`, `learning_rate`, `optimizer`: the descent (keyword only, as all options).
    - `newton_steps`: polishing steps (0 to skip).
    - `tolerance`: q below which a point is a fixed point (default 1e-20: float64 after
      polishing; use about 1e-10 in float32).
    - `slow_tolerance`: also keep slow points with q below it (default: none).
    - `unique_tolerance`: relative distance under which two points are the same.

    **Returns:** :class:`FixedPoints` (possibly with M = 0: check ``final_residuals``).

    **Raises:** ``TypeError`` for a non-cell, a carry that is not floating, or
    `initial_states` that are not a floating array; ``ValueError`` for `initial_states` not
    of shape (K, S) with the cell's S, non-finite initial states, bad step counts or
    tolerances (``slow_tolerance <= tolerance``); the cell's own errors for a bad `x`.

    Reference: D. Sussillo & O. Barak, "Opening the black box: low-dimensional dynamics in
    high-dimensional recurrent neural networks", Neural Computation 25 (2013).

    >>> import jax, jax.numpy as jnp, rnngrad as rg
    >>> cell = rg.VanillaCell(1, 2, weight_hh_init=lambda k, s, d: 2 * jnp.eye(2, dtype=d),
    ...                       use_bias=False, key=jax.random.key(0))
    >>> starts = jax.random.uniform(jax.random.key(1), (64, 2), minval=-1.5, maxval=1.5)
    >>> found = rg.fixed_points(cell, jnp.zeros(1), starts)
    >>> len(found.points), int(found.stable.sum())  # {-x*, 0, x*}²; the 4 corners are stable
    (9, 4)
    """
    check_cell(cell)
    flat0, _ = ravel_pytree(init_carry(cell))
    if not jnp.issubdtype(flat0.dtype, jnp.floating):
        raise TypeError(
            f"fixed_points: the cell's carry must be floating (its state is differentiated), "
            f"got dtype {flat0.dtype}."
        )
    size = flat0.shape[0]
    if not (hasattr(initial_states, "shape") and hasattr(initial_states, "dtype")):
        raise TypeError(
            f"`initial_states` must be a floating array of shape (K, {size}), got "
            f"{describe(initial_states)}"
            + (": use jnp.asarray(...)." if isinstance(initial_states, (list, tuple)) else ".")
        )
    starts = jnp.asarray(initial_states)
    if not jnp.issubdtype(starts.dtype, jnp.floating):
        raise TypeError(f"`initial_states` must be floating, got {describe(initial_states)}.")
    if starts.ndim != 2 or starts.shape[1] != size or starts.shape[0] == 0:
        hint = " (one state: initial_states[None])" if starts.ndim == 1 else ""
        raise ValueError(
            f"`initial_states` must have shape (K, S) with K >= 1 and S = {size}, the cell's "
            f"flattened state size, got shape {starts.shape}{hint}."
        )
    if not bool(jnp.all(jnp.isfinite(starts))):
        raise ValueError("`initial_states` must be finite (found NaN or inf).")
    starts = starts.astype(flat0.dtype)
    steps = check_int("steps", steps, minimum=0)
    newton_steps = check_int("newton_steps", newton_steps, minimum=0)
    tolerance = float(check_real_scalar("tolerance", tolerance, positive=True))
    unique_tolerance = float(check_real_scalar("unique_tolerance", unique_tolerance, positive=True))
    if slow_tolerance is not None:
        slow_tolerance = float(check_real_scalar("slow_tolerance", slow_tolerance, positive=True))
        if slow_tolerance <= tolerance:
            raise ValueError(
                f"`slow_tolerance` ({slow_tolerance}) must exceed `tolerance` ({tolerance}): "
                "slow points are those with tolerance <= q < slow_tolerance."
            )
    if optimizer is None:
        learning_rate = float(check_real_scalar("learning_rate", learning_rate, positive=True))
        optimizer = _adam(learning_rate)
    elif not isinstance(optimizer, optax.GradientTransformation):
        raise TypeError(
            f"`optimizer` must be an optax.GradientTransformation, got {describe(optimizer)}."
        )
    cell(x, init_carry(cell))  # the cell's own errors for a bad `x`, before compiling

    with jax.numpy_dtype_promotion("standard"):  # optax's Adam mixes int counts and floats
        points, q = _search(cell, x, starts, optimizer, steps, newton_steps)
    points, q = np.asarray(points), np.asarray(q)
    keep_below = tolerance if slow_tolerance is None else slow_tolerance
    order = [i for i in np.argsort(q, kind="stable") if np.isfinite(q[i]) and q[i] < keep_below]
    reps: list[int] = []
    counts: list[int] = []
    for i in order:
        for j, r in enumerate(reps):
            scale = max(1.0, float(np.linalg.norm(points[r])))
            if np.linalg.norm(points[i] - points[r]) < unique_tolerance * scale:
                counts[j] += 1
                break
        else:
            reps.append(i)
            counts.append(1)
    kept = points[reps].reshape(len(reps), size)
    if reps:
        jac = np.asarray(_jacobians(cell, x, jnp.asarray(kept)))
        cdtype = np.complex128 if kept.dtype == np.float64 else np.complex64
        eig = np.linalg.eigvals(jac).astype(cdtype)  # real when every eigenvalue is
        eig = np.take_along_axis(eig, np.argsort(-np.abs(eig), axis=1, kind="stable"), axis=1)
    else:
        eig = np.zeros((0, size), np.complex128 if kept.dtype == np.float64 else np.complex64)
    residual = q[reps]
    return FixedPoints(
        points=jnp.asarray(kept),
        residual=jnp.asarray(residual),
        eigenvalues=jnp.asarray(eig),
        stable=jnp.asarray(np.all(np.abs(eig) < 1.0, axis=1)),
        slow=jnp.asarray(residual >= tolerance),
        counts=jnp.asarray(counts, dtype=jnp.int32),
        final_residuals=jnp.asarray(q),
    )


@functools.lru_cache(maxsize=16)
def _adam(learning_rate: float) -> optax.GradientTransformation:
    """One optax.adam per learning rate, so that repeated calls reuse the compiled search."""
    return optax.adam(learning_rate)
