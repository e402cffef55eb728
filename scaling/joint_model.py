"""The joint loss model across scales and hyperparameters: its parameters, value and gradient.

Notations
---------
n_i, d_i     ln N - n0, ln D - d0 for run i (centred on the data's mean, for conditioning)
x_ij         ln h_j of run i for the m basin hyperparameters (lr, batch_size, weight_decay), (n, m)
z_it         the q nuisance columns, standardised, (n, q)
law          ln L_law = LSE(e, a_N - α·n, a_D - β·d): L_law = E + A/N^α + B/D^β, always > 0
centre       μ_j = c_j + a_j·n + b_j·d: h*_j = exp(μ_j), a power law in N and D
basin        s·|R u'|², u'_j = u_j·w(τ_j·u_j), u = x - μ; R upper triangular with
             exp(ρ_j) on its diagonal (so RᵀR is positive definite), s = exp(k·n): the
             curvature scales as N^k (k = 0: constant). w(z)² = 2(e^z - 1 - z)/z² gives
             u'_j² the LINEX shape: quadratic at h*, exponential on one side (τ > 0: above h*)
             and linear on the other (τ = 0: quadratic both sides). A learning-rate basin is
             shaped so: the loss climbs ever faster towards divergence above the optimum and
             slowly below it; a symmetric basin pulls h* towards the flat side (0.2 decades
             on Step Law's grid)
nuisance     Σ_t γ1_t·z_t + γ2_t·z_t²
model        ln L̂ = ln L_law + basin + nuisance; the basin is ≥ 0 and vanishes at h = h*,
             so the loss of a tuned run is L_law·exp(nuisance) > 0 by construction
r            ln L̂ - ln L; objective Σ_i w_i·Huber_δ(r_i)/δ over runs, weights (B, n)
θ            (e, a_N, a_D, α, β, [c_j, a_j, b_j]_j, ρ_1..ρ_m, R_kl (k < l), k, τ_1..τ_m, [γ1_t, γ2_t]_t)

The basin multiplies the loss (it is added in log space): a learning rate 2× off its optimum
costs about the same fraction of the loss at every scale, which is what Step Law's and
DeepSeek's sweeps show, and a quadratic in log h is the parabola the grid method fits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# the basin's optional shape terms, in the order a lean model adds them back (see `scaling.joint`)
OPTIONAL_TERMS = ("asymmetry", "cross", "curvature_scaling")
# ln of a loss-law term that is not in the model (its scale column does not vary): exp() gives exactly 0
ABSENT = -1e3
# rows of θ evaluated together: (chunk, n) temporaries of ~2M floats stay cheap to allocate
_CHUNK_ELEMENTS = 1 << 21


@dataclass(frozen=True)
class Layout:
    """Where each group of parameters sits in θ, for m basin HPs and q nuisance columns."""

    m: int
    q: int

    @property
    def centre(self) -> slice:
        return slice(5, 5 + 3 * self.m)

    @property
    def centres_at_reference(self) -> slice:
        """c_j of every basin HP: its optimum (log) at the reference scale."""
        return slice(5, 5 + 3 * self.m, 3)

    @property
    def diag(self) -> slice:
        s = 5 + 3 * self.m
        return slice(s, s + self.m)

    @property
    def off(self) -> slice:
        s = self.diag.stop
        return slice(s, s + self.m * (self.m - 1) // 2)

    @property
    def k(self) -> int:
        return self.off.stop

    @property
    def tau(self) -> slice:
        return slice(self.k + 1, self.k + 1 + self.m)

    @property
    def nuisance(self) -> slice:
        return slice(self.tau.stop, self.tau.stop + 2 * self.q)

    @property
    def p(self) -> int:
        return self.nuisance.stop

    def pairs(self) -> list[tuple[int, int]]:
        """(k, l) with k < l, in the order of the off-diagonal block of θ."""
        return [(k, col) for k in range(self.m) for col in range(k + 1, self.m)]

    def free(self, terms, axes=("params", "tokens"), law_axes=None) -> np.ndarray:
        """Mask over θ of the coefficients fitted with the optional `terms` (a subset of `OPTIONAL_TERMS`)
        when only the scale `axes` vary; the others stay at their start: no asymmetry (τ = 0), no cross
        terms, a curvature constant in scale (k = 0), and no term or exponent in a scale column that
        does not vary (its law term at `ABSENT`, its exponents 0). `law_axes[j]`, when given, names the
        scale columns the centre of HP j moves with; its exponents in the others stay 0."""
        mask = np.ones(self.p, bool)
        if "cross" not in terms:
            mask[self.off] = False
        if "curvature_scaling" not in terms or self.m == 0 or "params" not in axes:
            mask[self.k] = False
        if "asymmetry" not in terms:
            mask[self.tau] = False
        centre = mask[self.centre].reshape(self.m, 3)
        for i, axis in enumerate(("params", "tokens")):
            if axis not in axes:
                mask[[1 + i, 3 + i]] = False
                centre[:, 1 + i] = False
            for j, own in enumerate(law_axes or ()):
                if axis not in own:
                    centre[j, 1 + i] = False
        mask[self.centre] = centre.ravel()
        return mask

    def centres(self, theta: np.ndarray) -> np.ndarray:
        """(c_j, a_j, b_j) as an array (..., m, 3)."""
        return theta[..., self.centre].reshape(*theta.shape[:-1], self.m, 3)


@dataclass(frozen=True)
class Design:
    """The data the model is evaluated on: centred log scales, log HPs, nuisance, log loss."""

    n: np.ndarray
    d: np.ndarray
    x: np.ndarray
    z: np.ndarray
    log_loss: np.ndarray

    def take(self, idx: np.ndarray) -> Design:
        return Design(self.n[idx], self.d[idx], self.x[idx], self.z[idx], self.log_loss[idx])


def log_law(theta: np.ndarray, n: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ln L_law (b, n) and the shares (3, b, n) of E, A/N^α and B/D^β in it."""
    t = np.stack([np.broadcast_to(theta[:, :1], (theta.shape[0], n.size)),
                  theta[:, 1:2] - theta[:, 3:4] * n, theta[:, 2:3] - theta[:, 4:5] * d])
    top = t.max(axis=0)
    t -= top
    np.exp(t, out=t)
    total = t.sum(axis=0)
    t /= total
    return np.log(total) + top, t


# beyond this z = τ·u the stretch is held: e^z would overflow, and such a run is far up a divergence wall
_LINEX_Z_MAX = 50.0


def _linex_stretch(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """w(z) = sqrt(2(e^z - 1 - z)/z²) and dw/dz, by their Taylor series near z = 0 (where the closed form
    cancels), held constant above `_LINEX_Z_MAX`."""
    z = np.minimum(z, _LINEX_Z_MAX)
    small = np.abs(z) < 1e-3
    zs = np.where(small, 1.0, z)
    em1 = np.expm1(zs)
    h = np.where(small, 1.0 + z / 3 + z * z / 12 + z**3 / 60, 2.0 * (em1 - zs) / (zs * zs))
    dh = np.where(small, 1.0 / 3 + z / 6 + z * z / 20, 2.0 * em1 / (zs * zs) - 4.0 * (em1 - zs) / zs**3)
    w = np.sqrt(h)
    return w, np.where(z < _LINEX_Z_MAX, dh / (2.0 * w), 0.0)


def _chunk(layout: Layout, design: Design, theta: np.ndarray, weights: np.ndarray, delta: float, grad: bool):
    m, q = layout.m, layout.q
    n, d = design.n, design.d
    law, shares = log_law(theta, n, d)
    cen = layout.centres(theta)
    u = design.x.T[None, :, :] - (cen[:, :, 0, None] + cen[:, :, 1, None] * n + cen[:, :, 2, None] * d)  # (b, m, n)
    tau = theta[:, layout.tau, None]
    w, dw = _linex_stretch(tau * u)
    up = u * w
    diag = np.exp(theta[:, layout.diag])
    off = theta[:, layout.off]
    v = diag[:, :, None] * up
    for j, (k, col) in enumerate(layout.pairs()):
        v[:, k] += off[:, j, None] * up[:, col]
    s = np.exp(theta[:, layout.k, None] * n)
    quad = (v * v).sum(axis=1)
    basin = s * quad
    r = law + basin - design.log_loss
    gam = theta[:, layout.nuisance].reshape(theta.shape[0], q, 2)
    for t in range(q):
        r += gam[:, t, 0, None] * design.z[:, t] + gam[:, t, 1, None] * design.z[:, t] ** 2
    psi = np.clip(r, -delta, delta)
    f = np.einsum("bn,bn->b", weights, psi * (r - 0.5 * psi)) / delta
    if not grad:
        return f, None, r
    psi *= weights
    psi /= delta
    g = np.empty(theta.shape)
    g[:, 0] = np.einsum("bn,bn->b", psi, shares[0])
    pa, pb = psi * shares[1], psi * shares[2]
    g[:, 1], g[:, 2] = pa.sum(axis=1), pb.sum(axis=1)
    g[:, 3], g[:, 4] = -(pa @ n), -(pb @ d)
    ps = psi * s  # ∂f/∂quad
    g[:, layout.k] = np.einsum("bn,bn->b", psi * basin, np.broadcast_to(n, basin.shape))
    # ∂quad/∂u_l = 2 Σ_{k ≤ l} v_k R_kl
    dv = 2.0 * ps[:, None, :] * v  # ∂f/∂v_k, (b, m, n)
    du = diag[:, :, None] * dv
    for j, (k, col) in enumerate(layout.pairs()):
        du[:, col] += off[:, j, None] * dv[:, k]
        g[:, layout.off.start + j] = np.einsum("bn,bn->b", dv[:, k], up[:, col])
    g[:, layout.diag] = np.einsum("bmn,bmn->bm", dv, up) * diag
    g[:, layout.tau] = np.einsum("bmn,bmn->bm", du, u * u * dw)
    du *= w + tau * u * dw
    gc = np.empty((theta.shape[0], m, 3))
    gc[:, :, 0] = -du.sum(axis=2)
    gc[:, :, 1] = -(du @ n)
    gc[:, :, 2] = -(du @ d)
    g[:, layout.centre] = gc.reshape(theta.shape[0], -1)
    gn = np.empty((theta.shape[0], q, 2))
    for t in range(q):
        gn[:, t, 0] = psi @ design.z[:, t]
        gn[:, t, 1] = psi @ design.z[:, t] ** 2
    g[:, layout.nuisance] = gn.reshape(theta.shape[0], -1)
    return f, g, r


def objective(layout: Layout, design: Design, weights: np.ndarray, delta: float, free: np.ndarray | None = None):
    """fun_grad(θ, rows) for `scaling.lbfgs.minimize_batched`; weights (B, n), or (1, n) shared by all rows.
    Coefficients outside the mask `free` get a zero gradient, so L-BFGS leaves them at their start."""
    shared = weights.shape[0] == 1
    size = max(1, _CHUNK_ELEMENTS // max(design.n.size * max(layout.m, 1), 1))

    def fun_grad(theta: np.ndarray, rows: np.ndarray):
        f = np.empty(theta.shape[0])
        g = np.empty(theta.shape)
        for s in range(0, theta.shape[0], size):
            sl = slice(s, s + size)
            w = weights[:1] if shared else weights[rows[sl]]
            # a line search's trial step may overflow: its f is then inf or NaN, and the step is rejected
            with np.errstate(over="ignore", invalid="ignore"):
                f[sl], g[sl], _ = _chunk(layout, design, theta[sl],
                                         np.broadcast_to(w, (theta[sl].shape[0], w.shape[1])), delta, True)
        if free is not None:
            g[:, ~free] = 0.0
        return f, g

    return fun_grad


def log_residuals(layout: Layout, design: Design, theta: np.ndarray, delta: float) -> np.ndarray:
    """r = ln L̂ - ln L for one θ (p,), shape (n,)."""
    w = np.ones((1, design.n.size))
    return _chunk(layout, design, theta[None, :], w, delta, False)[2][0]


def log_predictions(layout: Layout, design: Design, thetas: np.ndarray) -> np.ndarray:
    """ln L̂ for each row of θ (B, p) at each run of `design`, shape (B, n)."""
    zero = Design(design.n, design.d, design.x, design.z, np.zeros(design.n.size))
    out = np.empty((thetas.shape[0], design.n.size))
    size = max(1, _CHUNK_ELEMENTS // max(design.n.size * max(layout.m, 1), 1))
    w = np.ones((1, design.n.size))
    for s in range(0, thetas.shape[0], size):
        sl = slice(s, s + size)
        with np.errstate(over="ignore", invalid="ignore"):
            out[sl] = _chunk(layout, zero, thetas[sl], np.broadcast_to(w, (thetas[sl].shape[0], w.shape[1])),
                             1.0, False)[2]
    return out


def jacobian(layout: Layout, design: Design, theta: np.ndarray, delta: float) -> np.ndarray:
    """∂r_i/∂θ for each run at θ, shape (n, p): per-run gradients divided by ψ(r_i)/δ where it is non-zero,
    else by central differences of r (inside the model, r is smooth)."""
    eps = 1e-6
    p = layout.p
    thetas = np.repeat(theta[None, :], 2 * p, axis=0)
    thetas[np.arange(p), np.arange(p)] += eps
    thetas[p + np.arange(p), np.arange(p)] -= eps
    w = np.ones((1, design.n.size))
    r = np.empty((2 * p, design.n.size))
    size = max(1, _CHUNK_ELEMENTS // (design.n.size * max(layout.m, 1)))
    for s in range(0, 2 * p, size):
        sl = slice(s, s + size)
        r[sl] = _chunk(layout, design, thetas[sl], np.broadcast_to(w, (thetas[sl].shape[0], w.shape[1])),
                       delta, False)[2]
    return ((r[:p] - r[p:]) / (2 * eps)).T
