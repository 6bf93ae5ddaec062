"""Local-PCA tangent spaces and an intrinsic-dimension estimate: the simple baseline against which
the Nyström-Jacobian tangent of :mod:`dyngeo.geometry.diffusion` is compared (Mahler et al. 2024,
Sec. 2.2 and Fig. 3, where local PCA is the method their SEC fields improve on)."""

import numpy as np
import torch

from .diffusion import _as_numpy, knn

__all__ = ["local_pca", "local_pca_tangent", "intrinsic_dimension", "projector"]


def local_pca(X, x0, k):
    """Principal directions and variances of the ``k`` nearest points of ``X`` to ``x0`` (centred on
    their mean): ``(V [D, D] columns by decreasing variance, variances [D])``."""
    X = _as_numpy(X)
    x0 = _as_numpy(np.asarray(x0, dtype=np.float64).reshape(1, -1), "x0", 1)
    if x0.shape[1] != X.shape[1]:
        raise ValueError(f"x0 has {x0.shape[1]} coordinates, X has {X.shape[1]}")
    if k < 2:
        raise ValueError(f"local PCA needs k >= 2 neighbours; got {k}")
    _, idx = knn(X, k, x0)
    nb = X[idx[0]] - X[idx[0]].mean(0)
    _, s, vt = np.linalg.svd(nb, full_matrices=True)
    var = np.zeros(X.shape[1])
    var[: len(s)] = s**2 / (k - 1)
    return vt.T, var


def local_pca_tangent(X, x0, k, d):
    """Orthonormal basis ``[D, d]`` of the tangent space at ``x0`` from local PCA on ``k`` neighbours."""
    if not 1 <= d <= np.shape(X)[1]:
        raise ValueError(f"d must be in 1..{np.shape(X)[1]}; got {d}")
    return local_pca(X, x0, k)[0][:, :d]


def intrinsic_dimension(X, k=20, threshold=0.95, n_points=200, seed=0):
    """Median over ``n_points`` random points of the number of local principal directions needed to
    explain ``threshold`` of the variance of their ``k`` nearest neighbours."""
    X = _as_numpy(X)
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold must be in (0, 1]; got {threshold}")
    rows = np.random.default_rng(seed).choice(len(X), size=min(n_points, len(X)), replace=False)
    dims = []
    for i in rows:
        var = local_pca(X, X[i], k)[1]
        dims.append(int(np.searchsorted(np.cumsum(var) / var.sum(), threshold - 1e-12) + 1))
    return int(np.median(dims))


def projector(Q):
    """``Q Qᵀ``, the orthogonal projector onto the span of the orthonormal columns of ``Q``."""
    Q = torch.as_tensor(Q)
    if Q.dim() != 2:
        raise ValueError(f"Q must be [D, d]; got {tuple(Q.shape)}")
    return Q @ Q.T
