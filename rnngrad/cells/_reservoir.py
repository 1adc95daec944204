"""How an echo state reservoir's fixed matrix is stored, multiplied and normalised.

:class:`rnngrad.EchoStateCell` keeps its recurrent matrix as ``W_rec = scale · B`` with a
base ``B`` of spectral radius 1, drawn once per key, and a scalar ``scale`` (the spectral
radius). A grid over the spectral radius (``jax.vmap`` over ``scale``) therefore shares
one ``B`` and multiplies the state by the scalar instead of materialising ``W_rec`` per
point. ``B`` is stored in one of two formats, chosen by measurement
(``benchmarks/esn_vs_reservoirpy.py``, 1000 units, connectivity 0.1, 10⁴ steps, float64,
2-core CPU):

- :class:`RowSparse`, a fixed-nonzeros-per-row gather format (ELLPACK): ``values`` and
  ``columns`` (N, K), K the largest number of nonzeros of a row rounded up to a
  multiple of 16, padded with zeros. One
  product is one gather of N·K entries of the state and a row sum. About 3× faster than
  the dense product at connectivity 0.1, and faster than ``jax.experimental.sparse``'s
  BCOO (a gather, then a scatter-add into the output) or a CSR segment sum, both of
  which were slower than the dense product on CPU.
- :class:`Dense`, the (N, N) array and a BLAS product: small or dense reservoirs, and
  reservoirs drawn from a traced key (K must be known when tracing).

The spectral radius of ``B`` is computed once per draw (:func:`spectral_radius`): dense
eigenvalues for N < 512, else an Arnoldi iteration on the stored product, checked for
convergence and falling back to the dense eigenvalues when it has not converged.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int

__all__ = ["Dense", "RowSparse", "spectral_radius", "row_sparse"]

_HIGHEST = jax.lax.Precision.HIGHEST
ARNOLDI_MIN_SIZE = 512  # below it the dense eigenvalues take milliseconds
# Arnoldi steps: ARNOLDI_SCALE · sqrt(N). Measured (float64, connectivity 0.01-0.1): the check
# passes from ~256 steps at N = 512, ~300 at N = 1000, <= 400 at N = 2000 (then ~1e-14).
ARNOLDI_SCALE = 12.0
ARNOLDI_TOL = 1e-12  # relative change of the top Ritz modulus over the last ARNOLDI_STEP steps
ARNOLDI_STEP = 32
SPARSE_MIN_SIZE = 128  # below it the dense (N, N) product fits in cache and wins
SPARSE_MAX_FILL = 0.25  # row-sparse when the widest row holds at most this fraction of N
ROW_WIDTH_STEP = 16  # K is padded to a multiple of this


class Dense(eqx.Module):
    """A reservoir base stored as a dense (N, N) array."""

    matrix: Float[Array, "n n"]

    def matvec(self, h: Float[Array, " n"]) -> Float[Array, " n"]:
        """``B h``."""
        return jnp.matmul(self.matrix, h, precision=_HIGHEST)

    def todense(self) -> Float[Array, "n n"]:
        """``B`` as an (N, N) array."""
        return self.matrix


class RowSparse(eqx.Module):
    """A reservoir base with at most K nonzeros per row: ``B[i, columns[i, k]] = values[i, k]``.

    Padding entries have value 0 (and column 0), so they add exact zeros.
    """

    values: Float[Array, "n k"]
    columns: Int[Array, "n k"]

    def matvec(self, h: Float[Array, " n"]) -> Float[Array, " n"]:
        """``B h``: a gather of the state and a sum over each row's nonzeros."""
        return jnp.sum(self.values * h[self.columns], axis=-1)

    def todense(self) -> Float[Array, "n n"]:
        """``B`` as an (N, N) array."""
        n = self.values.shape[0]
        rows = jnp.arange(n)[:, None]
        return jnp.zeros((n, n), self.values.dtype).at[rows, self.columns].add(self.values)


def row_sparse(base: np.ndarray, *, force: bool = False) -> RowSparse | None:
    """`base` (concrete, (N, N)) as :class:`RowSparse` if that is the faster format, else None.

    Row-sparse when N >= ``SPARSE_MIN_SIZE`` and the widest row has at most
    ``SPARSE_MAX_FILL · N`` nonzeros (the measured crossover is near 0.4 N; the margin
    keeps the choice on the safe side of it), or always with `force`.
    """
    n = base.shape[0]
    nonzero = base != 0
    width = int(nonzero.sum(axis=1).max())
    if not force and (n < SPARSE_MIN_SIZE or width > SPARSE_MAX_FILL * n):
        return None
    # K rounded up to a multiple of ROW_WIDTH_STEP: most draws of one size then share a
    # shape, so the compiled programs (states, Arnoldi) serve every seed.
    width = min(n, -(-max(width, 1) // ROW_WIDTH_STEP) * ROW_WIDTH_STEP)
    # Nonzeros first (a stable sort keeps their columns ascending), then padding.
    order = np.argsort(~nonzero, axis=1, kind="stable")[:, :width]
    values = np.take_along_axis(base, order, axis=1)
    columns = np.where(values != 0, order, 0).astype(np.int32)
    return RowSparse(jnp.asarray(values), jnp.asarray(columns))


def spectral_radius(base: Dense | RowSparse) -> float:
    """``max |eig(B)|`` of a concrete stored base, a Python float.

    For N < ``ARNOLDI_MIN_SIZE``: the dense eigenvalues. Else ``ARNOLDI_SCALE · √N``
    steps of an Arnoldi iteration on the stored product (:func:`_arnoldi`: float64 when
    ``jax_enable_x64`` is on, full reorthogonalisation, a fixed start vector), whose
    largest Ritz modulus is accepted when it agrees with the one ``ARNOLDI_STEP`` steps
    earlier to ``ARNOLDI_TOL`` (relative; ~100 eps in float32); otherwise, or when the
    Krylov space is exhausted early (an invariant subspace, which may miss the top
    eigenvalue), the dense eigenvalues. The spectra of random reservoirs fill a disk (the
    circular law), where a power iteration or a small Krylov space (ARPACK's default of
    20 vectors, as reservoirpy uses) can settle on an eigenvalue inside the edge; with
    12 √N steps the Arnoldi value agrees with the dense one to ~1e-14 in float64.
    """
    n = base.values.shape[0] if isinstance(base, RowSparse) else base.matrix.shape[0]
    if n >= ARNOLDI_MIN_SIZE:
        radius = _arnoldi_radius(base, n)
        if radius is not None:
            return radius
    dense = np.asarray(base.todense(), np.float64)
    return float(np.max(np.abs(np.linalg.eigvals(dense))))


def _arnoldi_radius(base: Dense | RowSparse, n: int) -> float | None:
    """The converged top Ritz modulus of :func:`_arnoldi`, or None (see :func:`spectral_radius`)."""
    wide = jnp.float64 if jax.config.read("jax_enable_x64") else jnp.float32
    steps = min(n, int(np.ceil(ARNOLDI_SCALE * np.sqrt(n))))
    start = np.random.default_rng(0).standard_normal(n)  # fixed: the result is reproducible
    cast = jax.tree_util.tree_map(
        lambda x: x.astype(wide) if jnp.issubdtype(x.dtype, jnp.floating) else x, base
    )
    h = np.asarray(_arnoldi(cast, jnp.asarray(start, wide), steps), np.float64)
    sub = np.abs(np.diagonal(h, -1))
    if not np.all(np.isfinite(h)) or np.min(sub) <= 1e-10 * np.max(np.abs(h)):
        return None
    tol = max(ARNOLDI_TOL, 100 * float(jnp.finfo(wide).eps))
    top, earlier = (
        float(np.max(np.abs(np.linalg.eigvals(h[:m, :m])))) for m in (steps, steps - ARNOLDI_STEP)
    )
    return top if abs(top - earlier) <= tol * top else None


@eqx.filter_jit
def _arnoldi(base: Dense | RowSparse, start: Array, steps: int) -> Array:
    """The (steps + 1, steps) Hessenberg matrix of `steps` Arnoldi steps of ``B`` from `start`.

    Classical Gram-Schmidt applied twice per step keeps the basis orthogonal to working
    precision (Giraud et al. 2005).
    """
    n = start.shape[0]
    q = jnp.zeros((steps + 1, n), start.dtype).at[0].set(start / jnp.linalg.norm(start))
    h = jnp.zeros((steps + 1, steps), start.dtype)

    def step(j: Array, carry: tuple[Array, Array]) -> tuple[Array, Array]:
        q, h = carry
        w = base.matvec(q[j])
        c1 = jnp.matmul(q, w, precision=_HIGHEST)  # rows after j are still zero
        w = w - jnp.matmul(c1, q, precision=_HIGHEST)
        c2 = jnp.matmul(q, w, precision=_HIGHEST)
        w = w - jnp.matmul(c2, q, precision=_HIGHEST)
        beta = jnp.linalg.norm(w)
        q = q.at[j + 1].set(w / jnp.where(beta > 0, beta, 1))
        return q, h.at[:, j].set(c1 + c2).at[j + 1, j].set(beta)

    return jax.lax.fori_loop(0, steps, step, (q, h))[1]
