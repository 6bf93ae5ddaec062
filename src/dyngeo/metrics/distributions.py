"""Distances between two samples of a distribution.

``frechet_distance`` is the Fréchet (2-Wasserstein) distance between the Gaussians fitted to two sets
of feature vectors, the quantity behind FID (Heusel et al. 2017). The book computes it on the features
of small networks trained in the chapters, an offline stand-in for Inception features: its values are
comparable within a chapter, not with published FIDs.

``w2_empirical`` is the empirical 2-Wasserstein distance between two point clouds (Jin et al. 2024, eq. 6):
an optimal assignment for equal sizes (SciPy's Jonker–Volgenant ``linear_sum_assignment``, as in the
paper), optimal transport between the two uniform measures otherwise (POT's exact network simplex).
``density_coverage`` is the fidelity/diversity pair of Naeem et al. (2020) built on k-nearest-neighbour
balls around the real samples.
"""

import numpy as np
import scipy.linalg
import torch

__all__ = ["frechet_distance", "w2_empirical", "density_coverage"]


def _features(a, name):
    """``a`` (tensor or array) as a finite float64 NumPy matrix ``[N, d]`` with ``N >= 2``."""
    a = a.detach().cpu().double().numpy() if isinstance(a, torch.Tensor) else np.asarray(a, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] < 2:
        raise ValueError(f"{name} must be an [N, d] matrix with N >= 2; got shape {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError(f"{name} contains NaN or inf")
    return a


def frechet_distance(a, b):
    """``||μ_a − μ_b||² + tr(Σ_a + Σ_b − 2 (Σ_a Σ_b)^{1/2})`` for features ``a`` [N, d] and ``b`` [M, d]
    (tensors or arrays), in float64; the squared W2 distance between the two fitted Gaussians."""
    a, b = _features(a, "a"), _features(b, "b")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"a and b must have the same feature dimension; got {a.shape[1]} and {b.shape[1]}")
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    root = scipy.linalg.sqrtm(cov_a @ cov_b)
    root = root.real if np.iscomplexobj(root) else root  # round-off can leave a tiny imaginary part
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a + cov_b - 2.0 * root))


def _same_dim(a, b):
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"the two samples must have the same dimension; got {a.shape[1]} and {b.shape[1]}")


def w2_empirical(X, Y, method="auto", return_plan=False):
    """Empirical 2-Wasserstein distance between the uniform measures on ``X`` [N, d] and ``Y`` [M, d].

    For ``N = M`` (Jin et al. 2024, eq. 6) ``W₂ = min_π ((1/N) Σ_i ||X_i − Y_π(i)||²)^{1/2}`` over
    permutations π (``method="assignment"``: SciPy's ``linear_sum_assignment``). For any sizes,
    ``method="pot"`` solves the transport linear programme ``min_{γ ∈ Γ} Σ_ij γ_ij ||X_i − Y_j||²`` over
    couplings with marginals ``1/N`` and ``1/M`` (POT's ``ot.emd``); for ``N = M`` an optimal coupling is
    a permutation divided by ``N`` (Birkhoff), so both methods agree. ``"auto"`` picks assignment for equal
    sizes. With ``return_plan`` also returns the permutation (assignment) or the coupling (POT).
    """
    from scipy.spatial.distance import cdist

    X, Y = _features(X, "X"), _features(Y, "Y")
    _same_dim(X, Y)
    if method == "auto":
        method = "assignment" if X.shape[0] == Y.shape[0] else "pot"
    cost = cdist(X, Y, "sqeuclidean")
    if method == "assignment":
        from scipy.optimize import linear_sum_assignment

        if X.shape[0] != Y.shape[0]:
            raise ValueError(f"the assignment needs samples of equal size; got {X.shape[0]} and {Y.shape[0]} (use method='pot')")
        rows, cols = linear_sum_assignment(cost)
        w2 = float(np.sqrt(cost[rows, cols].mean()))
        return (w2, cols) if return_plan else w2
    if method == "pot":
        import ot

        a, b = np.full(X.shape[0], 1.0 / X.shape[0]), np.full(Y.shape[0], 1.0 / Y.shape[0])
        plan = ot.emd(a, b, cost, numItermax=max(100000, 50 * X.shape[0] * Y.shape[0]))
        w2 = float(np.sqrt(max((plan * cost).sum(), 0.0)))
        return (w2, plan) if return_plan else w2
    raise ValueError(f"method must be 'auto', 'assignment' or 'pot'; got {method!r}")


def density_coverage(real, fake, k=5):
    """Density and coverage of ``fake`` [M, d] against ``real`` [N, d] (Naeem et al. 2020).

    With ``B_i`` the open ball around ``real[i]`` whose radius is the distance to its ``k``-th nearest
    other real sample,
    ``density = (1/(kM)) Σ_j Σ_i 1[fake_j ∈ B_i]`` (how many real neighbourhoods a fake sample falls in,
    1 on average when fake and real come from the same distribution, above 1 when fakes crowd the
    dense regions) and ``coverage = (1/N) Σ_i 1[∃ j: fake_j ∈ B_i]`` (the fraction of real
    neighbourhoods that hold at least one fake sample). Returns ``(density, coverage)``.
    """
    from scipy.spatial import cKDTree
    from scipy.spatial.distance import cdist

    real, fake = _features(real, "real"), _features(fake, "fake")
    _same_dim(real, fake)
    if int(k) != k or not 1 <= k < real.shape[0]:
        raise ValueError(f"k must be an integer in [1, N - 1] = [1, {real.shape[0] - 1}]; got {k}")
    k = int(k)
    radius = cKDTree(real).query(real, k=k + 1)[0][:, -1]  # neighbour 0 is the point itself
    inside = np.zeros(real.shape[0], dtype=np.int64)
    hit = np.zeros(real.shape[0], dtype=bool)
    for start in range(0, fake.shape[0], 2048):  # chunks of fakes keep the distance matrix small
        within = cdist(real, fake[start : start + 2048]) < radius[:, None]
        inside += within.sum(1)
        hit |= within.any(1)
    return float(inside.sum() / (k * fake.shape[0])), float(hit.mean())
