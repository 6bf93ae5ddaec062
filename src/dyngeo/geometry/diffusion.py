"""Diffusion maps, the conformally invariant diffusion map (CIDM), the Nyström extension and
projection, and on-manifold PGD (Mahler, Berry, Stephens, Antil, Merritt, Schreiber & Kevrekidis,
*On-manifold projected gradient descent*, Front. Comput. Sci. 6:1274181, 2024).

Conventions (one for the whole module). Kernels have the shape function ``h(z) = exp(-z)``:

- plain diffusion maps: ``K(x, y) = exp(-|x - y|² / ε²)``; the α-normalisation divides by the
  degrees ``q(x) = Σ_j K(x, x_j)``: ``K_α(x, y) = K(x, y) / (q(x)^α q(y)^α)``. α = 1 removes the
  sampling density (Coifman & Lafon), α = 0 is the Laplacian-eigenmaps kernel;
- CIDM (Berry & Sauer; the paper's Sec. 2.1): ``K(x, y) = exp(-|x - y|² / (ε² ρ(x) ρ(y)))`` with the
  variable bandwidth ``ρ(x)`` = mean distance from ``x`` to its ``k`` nearest *training* points
  (a training point counts itself, at distance 0, so ``ρ`` is one function of ``x``), and α = 0.

The Markov matrix ``P = D⁻¹ K_α`` (``D`` its row sums) is diagonalised through the symmetric
``S = D^{-1/2} K_α D^{-1/2}``: ``S v = λ v`` and ``φ = D^{-1/2} v`` (so ``φᵀ D φ = I``). Since
``P ≈ exp(ε²/4 · Δ)`` for the Gaussian kernel, ``-4 log λ / ε²`` estimates the eigenvalues of the
Laplace–Beltrami operator ``-Δ`` (for CIDM, of the metric ``g / ρ²``: use it up to scale).

The Nyström extension (the paper's eq. 2) ``φ(x) = (1/λ) Σ_j P(x, x_j) φ_j`` evaluates the
eigenfunctions anywhere; extending the data's own coordinates with ``L`` eigenfunctions gives the
Nyström projection ``ι̃(x) = Σ_ℓ φ_ℓ(x) x̂_ℓ`` with ``x̂ = Φᵀ D X`` (Sec. 2.1), and the tangent space at
a point is spanned by the leading left singular vectors of its Jacobian ``∂ι̃/∂x``. Everything
after the fit is torch and differentiable. Dense kernels: meant for up to a few thousand points.
"""

import numpy as np
import torch
from scipy.spatial import cKDTree

__all__ = ["knn", "knn_bandwidth", "tune_epsilon", "DiffusionMap", "diffusion_map",
           "on_manifold_pgd", "tangent_from_jacobian"]


def _as_numpy(X, name="X", min_points=2):
    X = X.detach().cpu().numpy() if torch.is_tensor(X) else np.asarray(X)
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[0] < min_points:
        raise ValueError(f"{name} must be a [N, D] array with N >= {min_points} points; got shape {X.shape}")
    if not np.all(np.isfinite(X)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return X


def knn(X, k, Y=None):
    """The ``k`` nearest points of ``X`` to each row of ``Y`` (default ``X`` itself, each point then
    counting itself first) with SciPy's ``cKDTree``: ``(distances [M, k], indices [M, k])``."""
    X = _as_numpy(X)
    if not 1 <= k <= len(X):
        raise ValueError(f"k must be in 1..{len(X)}; got {k}")
    Y = X if Y is None else _as_numpy(Y, "Y", 1)
    dist, idx = cKDTree(X).query(Y, k=k)
    return dist.reshape(len(Y), k), idx.reshape(len(Y), k)


def knn_bandwidth(X, k, Y=None):
    """CIDM bandwidth ``ρ(y)``: the mean distance from ``y`` to its ``k`` nearest points of ``X``
    (the robust variant of the paper's δ, Sec. 2.1)."""
    return knn(X, k, Y)[0].mean(axis=1)


def tune_epsilon(sq_dist, eps_grid=None):
    """Bandwidth by the Berry–Harlim rule: the ε that maximises the slope of
    ``log Σ_ij exp(-d²_ij/ε²)`` against ``log ε``; the slope there estimates the intrinsic dimension.
    ``sq_dist`` is the [N, N] matrix of (possibly rescaled) squared distances. Returns ``(ε, dim)``."""
    sq = np.asarray(sq_dist, dtype=np.float64)
    pos = sq[sq > 0]
    if pos.size == 0:
        raise ValueError("all points coincide; no bandwidth can be tuned")
    if eps_grid is None:
        eps_grid = np.exp(np.linspace(np.log(np.sqrt(pos.min())) - 1, np.log(np.sqrt(pos.max())) + 1, 60))
    logs = np.array([np.log(np.exp(-sq / e**2).sum()) for e in eps_grid])
    slope = np.gradient(logs, np.log(eps_grid))
    i = int(np.argmax(slope))
    return float(eps_grid[i]), float(slope[i])


class DiffusionMap:
    """A fitted (CIDM or α-normalised) diffusion map with its Nyström extension and projection.

    Parameters: ``n_components`` eigenpairs kept (the constant one included); ``k`` neighbours for the
    CIDM bandwidth; ``eps`` the kernel scale, ``"auto"`` for :func:`tune_epsilon` applied to the
    (rescaled) squared distances to each point's ``k_eps`` nearest neighbours;
    ``alpha`` the normalisation power (default 1 for ``"dm"``, 0 for ``"cidm"``); ``method`` ``"dm"``
    (fixed bandwidth) or ``"cidm"`` (variable bandwidth). After :meth:`fit`: ``eigenvalues`` (λ of
    ``P``, descending), ``laplacian`` (``-4 log λ / ε²``, ascending), ``phi`` ``[N, L]`` (φᵀ D φ = I),
    ``degrees`` ``D``, ``dimension`` (from the ε tuning, ``None`` if ε was given).
    """

    def __init__(self, n_components=10, k=10, eps="auto", alpha=None, method="cidm", k_eps=128):
        if method not in ("dm", "cidm"):
            raise ValueError(f"method must be 'dm' or 'cidm'; got {method!r}")
        if n_components < 1:
            raise ValueError(f"n_components must be positive; got {n_components}")
        if not (eps == "auto" or (isinstance(eps, (int, float)) and eps > 0)):
            raise ValueError(f"eps must be a positive number or 'auto'; got {eps!r}")
        self.n_components, self.k, self.eps, self.method, self.k_eps = n_components, k, eps, method, k_eps
        self.alpha = (1.0 if method == "dm" else 0.0) if alpha is None else float(alpha)

    # ---- fitting (NumPy / SciPy, float64) ----
    def fit(self, X):
        from scipy.linalg import eigh

        Xn = _as_numpy(X)
        N = len(Xn)
        if self.n_components > N:
            raise ValueError(f"n_components ({self.n_components}) exceeds the number of points ({N})")
        rho = knn_bandwidth(Xn, self.k) if self.method == "cidm" else np.ones(N)
        if np.any(rho <= 0):
            raise ValueError("repeated points give a zero bandwidth; remove duplicates or raise k")
        norms = (Xn**2).sum(1)
        sq = np.maximum(norms[:, None] + norms[None, :] - 2 * Xn @ Xn.T, 0)
        np.fill_diagonal(sq, 0)
        sq = sq / np.outer(rho, rho)
        if self.eps == "auto":
            m = min(self.k_eps, N - 1)
            eps, self.dimension = tune_epsilon(np.partition(sq, m, axis=1)[:, :m + 1])
        else:
            eps, self.dimension = float(self.eps), None
        K = np.exp(-sq / eps**2)
        q = K.sum(1)
        Ka = K / np.outer(q**self.alpha, q**self.alpha)
        D = Ka.sum(1)
        S = Ka / np.sqrt(np.outer(D, D))
        S = (S + S.T) / 2
        if N > 300 and self.n_components < N // 4:  # Lanczos for the top of the spectrum, started from 1
            from scipy.sparse.linalg import eigsh

            lam, v = eigsh(S, k=self.n_components, which="LA", v0=np.ones(N))
            order = np.argsort(lam)[::-1]
            lam, v = lam[order], v[:, order]
        else:
            lam, v = eigh(S, subset_by_index=[N - self.n_components, N - 1])
            lam, v = lam[::-1], v[:, ::-1]
        phi = v / np.sqrt(D)[:, None]
        phi = phi * np.sign(phi[np.argmax(np.abs(phi), axis=0), np.arange(phi.shape[1])])  # fixed signs
        self.eps_, self.rho, self.q, self.degrees = eps, rho, q, D
        self.eigenvalues = lam
        self.laplacian = -4 * np.log(np.clip(lam, 1e-300, None)) / eps**2
        self.phi = phi
        self._X = torch.as_tensor(Xn)
        self._t = {name: torch.as_tensor(np.ascontiguousarray(a)) for name, a in
                   dict(rho=rho, q=q, lam=lam.copy(), phi=phi.copy(), D=D).items()}
        self.coefficients = self.function_coefficients(Xn)  # x̂ = Φᵀ D X
        return self

    def _require_fit(self):
        if not hasattr(self, "phi"):
            raise RuntimeError("call fit(X) first")

    # ---- the extension (torch, differentiable) ----
    def _query(self, Y):
        Y = torch.as_tensor(Y)
        if Y.dim() == 1:
            Y = Y[None]
        if Y.dim() != 2 or Y.shape[1] != self._X.shape[1]:
            raise ValueError(f"points must be [M, {self._X.shape[1]}]; got {tuple(Y.shape)}")
        return Y

    def markov_row(self, Y):
        """``P(y, x_j)`` ``[M, N]`` for new points: the row of ``D⁻¹ K_α`` that ``y`` would have."""
        self._require_fit()
        Y = self._query(Y)
        X = self._X.to(Y.device, torch.float64)
        Yd = Y.to(torch.float64)
        t = {k: v.to(Y.device) for k, v in self._t.items()}
        sq = ((Yd[:, None, :] - X[None, :, :]) ** 2).sum(-1)
        if self.method == "cidm":
            d = (sq + 1e-300).sqrt()
            rho_y = torch.topk(d, self.k, dim=1, largest=False).values.mean(1)
            sq = sq / (rho_y[:, None] * t["rho"][None, :])
        # the row normalisation cancels q(y)^α, so P is a softmax: stable far from the data, where
        # every kernel value underflows (and P tends to the nearest training point)
        return torch.softmax(-sq / self.eps_**2 - self.alpha * t["q"].log()[None, :], dim=1)

    def extend(self, Y, n_components=None):
        """Nyström extension of the eigenfunctions (eq. 2): ``[M, L]``, equal to ``phi`` at the
        training points. Differentiable in ``Y``; returns float64."""
        L = self.n_components if n_components is None else n_components
        P = self.markov_row(Y)
        return P @ self._t["phi"][:, :L].to(P.device) / self._t["lam"][:L].to(P.device)

    def function_coefficients(self, F, n_components=None):
        """``Φᵀ D F``: the coefficients of values ``F`` ``[N]`` or ``[N, p]`` in the eigenbasis."""
        self._require_fit()
        F = _as_numpy(np.asarray(F).reshape(len(self.phi), -1) if not torch.is_tensor(F)
                      else F.reshape(len(self.phi), -1), "F")
        L = self.n_components if n_components is None else n_components
        return torch.as_tensor(self.phi[:, :L].T @ (self.degrees[:, None] * F))

    def extend_function(self, F, Y, n_components=None):
        """Nyström extension of a function known at the training points (Sec. 2.1, truncated at
        ``n_components`` eigenfunctions, which smooths it): ``[M, p]``."""
        L = self.n_components if n_components is None else n_components
        c = self.function_coefficients(F, L)
        Phi = self.extend(Y, L)
        return Phi @ c.to(Phi.device)

    def project(self, Y, n_components=None, n_iter=1):
        """Nyström projection ``ι̃(y) = Σ_ℓ φ_ℓ(y) x̂_ℓ`` onto the manifold (Sec. 2.1), iterated
        ``n_iter`` times; ``[M, D]`` in ``Y``'s dtype, differentiable."""
        Y = self._query(Y)
        L = self.n_components if n_components is None else n_components
        c = self.coefficients[:L].to(Y.device)
        Z = Y.to(torch.float64)
        for _ in range(n_iter):
            Z = self.extend(Z, L) @ c
        return Z.to(Y.dtype) if Y.is_floating_point() else Z

    def jacobian(self, x, n_components=None):
        """``∂ι̃/∂x`` ``[D, D]`` at one point ``x`` ``[D]`` (autograd)."""
        x = torch.as_tensor(x, dtype=torch.float64).reshape(-1)
        return torch.autograd.functional.jacobian(lambda z: self.project(z[None], n_components)[0], x)

    def tangent(self, x, d, n_components=None):
        """An orthonormal basis ``[D, d]`` of the tangent space at ``x``: the top ``d`` left singular
        vectors of the Nyström projection's Jacobian (a light stand-in for the paper's SEC fields)."""
        return tangent_from_jacobian(self.jacobian(x, n_components), d)


    def tangents(self, X0, d, n_probe=None, seed=0, n_components=None):
        """Tangent bases ``[B, D, d]`` at the rows of ``X0`` from the Nyström Jacobian, batched. With
        ``n_probe`` the Jacobian is only applied to ``n_probe`` random directions (forward mode) and
        to the resulting basis (reverse mode), a randomised SVD that is exact when the Jacobian's
        rank is at most ``n_probe`` and close when its other singular values are small."""
        from torch.func import jacrev, jvp, vjp, vmap

        X0 = self._query(X0).to(torch.float64)
        f = lambda z: self.project(z[None], n_components)[0]  # noqa: E731
        if n_probe is None:
            return torch.stack([tangent_from_jacobian(jacrev(f)(x), d) for x in X0])
        if n_probe < d:
            raise ValueError(f"n_probe ({n_probe}) must be at least d ({d})")
        g = torch.Generator().manual_seed(seed)
        out = []
        for x in X0:
            omega = torch.randn(n_probe, x.shape[0], generator=g, dtype=x.dtype).to(x.device)
            Y = vmap(lambda v: jvp(f, (x,), (v,))[1])(omega).T  # J Ω  [D, p]
            Qr, _ = torch.linalg.qr(Y)
            _, pull = vjp(f, x)
            B = vmap(lambda u: pull(u)[0])(Qr.T)  # Qᵀ J  [p, D]
            U, _, _ = torch.linalg.svd(B, full_matrices=False)
            out.append(Qr @ U[:, :d])
        return torch.stack(out)


def tangent_from_jacobian(J, d):
    """Top ``d`` left singular vectors of a Jacobian ``[D, D]``: ``Q`` ``[D, d]`` with ``QᵀQ = I``."""
    J = torch.as_tensor(J)
    if J.dim() != 2 or not 1 <= d <= min(J.shape):
        raise ValueError(f"need a 2-D Jacobian and 1 <= d <= {min(J.shape) if J.dim() == 2 else '?'}; got {tuple(J.shape)}, d={d}")
    U, _, _ = torch.linalg.svd(J)
    return U[:, :d]


def diffusion_map(X, n_components, k=10, eps="auto", alpha=None, method="dm", k_eps=128):
    """Estimates of the Laplace–Beltrami eigenvalues (ascending, the first ≈ 0) and the
    eigenfunctions at the points ``[N, n_components]``, as NumPy arrays. Defaults: the α = 1
    (density-free) diffusion map with a tuned ε; ``method="cidm"`` gives the variable-bandwidth
    kernel with ``k`` neighbours (and α = 0 unless given). See :class:`DiffusionMap`."""
    dm = DiffusionMap(n_components, k=k, eps=eps, alpha=alpha, method=method, k_eps=k_eps).fit(X)
    return dm.laplacian, dm.phi


def on_manifold_pgd(model, manifold, x0, y0, alpha, Q, steps=50, n_components=None, clamp=(0.0, 1.0),
                    stop_on_flip=True):
    """On-manifold PGD (the paper's Algorithm 1), batched: from ``x0`` ``[B, D]`` with labels ``y0``,
    step ``alpha`` along the unit cross-entropy gradient projected onto the fixed tangent basis ``Q``
    ``[B, D, d]`` (or ``[D, d]`` shared), normalised as the paper suggests to avoid its huge raw step,
    then map back with the Nyström projection of ``manifold`` (a fitted :class:`DiffusionMap`). A
    point stops once its label flips. This is ``dyngeo.attacks.pgd`` in L2 with no ball, the gradient
    restricted to ``Q`` and ``manifold.project`` after each step.

    Returns ``(x_adv [B, D], flipped [B] bool, n_steps [B], path [T+1, B, D])``.
    """
    from ..attacks import pgd

    x0 = torch.as_tensor(x0)
    if x0.dim() != 2:
        raise ValueError(f"x0 must be [B, D]; got {tuple(x0.shape)}")
    Q = torch.as_tensor(Q, dtype=x0.dtype, device=x0.device)
    trace = []
    x = pgd(model, x0, y0, float("inf"), alpha=alpha, steps=steps, clamp=clamp, norm="2", direction=Q,
            project=lambda z: manifold.project(z, n_components), stop_on_flip=stop_on_flip, trace=trace)
    n_steps = torch.zeros(x0.shape[0], dtype=torch.long, device=x0.device)
    for _, moved in trace:
        n_steps += moved.long()
    with torch.no_grad():
        flipped = model(x).argmax(1) != y0
    return x, flipped, n_steps, torch.stack([x0.detach()] + [iterate for iterate, _ in trace])
