"""The smoothed 1-nearest-neighbour graph two-sample test of Djolonga & Krause (2017), as used by
Shukla et al. (2024) for the graph divergence loss of DAE-G / DAE-OG.

Pool two samples ``X0`` (label 0) and ``X1`` (label 1) into ``X`` with ``N = n0 + n1`` points. The hard
1-NN statistic counts the points whose nearest neighbour carries the other label; it is large when the
two samples are mixed (same distribution) and small when they separate. Smoothing replaces each point's
nearest neighbour by a softmax over the others of the negative (unsquared) distance divided by a
temperature ``λ``: the edge marginals ``μ_ij`` below, whose rows sum to one. Then

- ``T^λ = Σ_{i≠j} 1{π(i) ≠ π(j)} μ_ij``  (paper's eq. 3, the k = 1 case of eq. 2);
- ``t^λ = (T^λ − E_H0[T^λ]) / sqrt(Var_H0[T^λ])``  (eq. 4), where the null H0 permutes the labels
  (n0 zeros and n1 ones put uniformly at random on the pooled points); the two moments have closed
  forms (:func:`null_moments`), so ``t`` is differentiable;
- the loss ``L_stat = −t^λ``  (eq. 5).

Everything is torch, differentiable and device/dtype-agnostic; ``λ = 0`` gives the hard 1-NN statistic
(ties split evenly), which is not differentiable.
"""

import torch

__all__ = ["edge_marginals", "smoothed_1nn", "null_moments", "t_statistic", "graph_loss", "permutation_null",
           "pairwise_distances"]


def _pair(X0, X1):
    for name, X in (("X0", X0), ("X1", X1)):
        if not isinstance(X, torch.Tensor):
            raise ValueError(f"{name} must be a torch.Tensor; got {type(X).__name__}")
        if X.ndim != 2 or X.shape[0] < 1:
            raise ValueError(f"{name} must be [n, d] with n >= 1; got shape {tuple(X.shape)}")
    if X0.shape[1] != X1.shape[1]:
        raise ValueError(f"X0 and X1 must have the same dimension; got {X0.shape[1]} and {X1.shape[1]}")
    if X0.shape[0] + X1.shape[0] < 4:
        raise ValueError("the pooled sample needs at least 4 points for the null's variance")
    dtype = torch.promote_types(X0.dtype, X1.dtype)
    dtype = dtype if dtype.is_floating_point else torch.float64  # integer points are measured in float64
    return X0.to(dtype), X1.to(dtype)


def pairwise_distances(X, eps=1e-4):
    """Smoothed Euclidean distances ``sqrt(‖x_i − x_j‖² + eps)`` ``[N, N]``. ``eps`` keeps the gradient
    bounded (by ``1 / (2 sqrt(eps))``) where two points nearly coincide: ``torch.cdist`` gives NaN there, and a
    tiny ``eps`` gives gradients so large that a generator whose samples start out bunched together stops
    learning (seen with ``eps = 1e-12`` in chapter 14). The default shifts distances by at most 0.01."""
    sq = (X * X).sum(1)
    d2 = (sq[:, None] + sq[None, :] - 2.0 * X @ X.T).clamp_min(0.0)
    return torch.sqrt(d2 + eps)


def edge_marginals(X, lam, eps=1e-4):
    """``μ_ij = exp(−‖x_i − x_j‖/λ) / Σ_{k≠i} exp(−‖x_i − x_k‖/λ)``, zero on the diagonal ([N, N]).

    Each row sums to one: point ``i``'s smoothed nearest-neighbour distribution. ``lam = 0`` puts mass
    one on the nearest neighbour (split evenly among ties). ``eps``: see :func:`pairwise_distances` (0 gives
    the exact distances of eq. 3, with undefined gradients where points coincide)."""
    if lam < 0:
        raise ValueError(f"lam must be >= 0; got {lam}")
    N = X.shape[0]
    eye = torch.eye(N, dtype=torch.bool, device=X.device)
    D = pairwise_distances(X, eps).masked_fill(eye, float("inf"))
    if lam == 0:
        D = D.detach()
        nearest = (D == D.min(1, keepdim=True).values).to(X.dtype)
        return nearest / nearest.sum(1, keepdim=True)
    return torch.softmax(-D / lam, dim=1)


def _cross(n0, n1, like):
    labels = torch.cat([torch.zeros(n0, dtype=like.dtype, device=like.device),
                        torch.ones(n1, dtype=like.dtype, device=like.device)])
    return (labels[:, None] != labels[None, :]).to(like.dtype)


def smoothed_1nn(X0, X1, lam=0.1, eps=1e-4):
    """``T^λ`` of eq. (3): the expected number of cross-sample nearest-neighbour edges."""
    X0, X1 = _pair(X0, X1)
    mu = edge_marginals(torch.cat([X0, X1]), lam, eps)
    return (mu * _cross(X0.shape[0], X1.shape[0], mu)).sum()


def null_moments(mu, n0, n1):
    """Mean and variance of ``T = Σ_{i≠j} 1{π(i)≠π(j)} μ_ij`` when the ``n0`` zeros and ``n1`` ones are put
    on the ``N`` points by a uniformly random permutation (the H0 of eq. 4), in closed form.

    With ``W = μ + μᵀ`` (unordered edges), ``T = Σ_{i<j} c_ij W_ij`` and ``c_ij`` the cross-edge indicator:
    ``P(c_ij) = p1 = 2 n0 n1 / (N(N−1))``; for two edges sharing one vertex ``P(both) = p2 = n0 n1 / (N(N−1))``;
    for disjoint edges ``p3 = 4 n0 n1 (n0−1)(n1−1) / (N(N−1)(N−2)(N−3))``. Then ``E = p1 S1`` and
    ``Var = p1 S2 + p2 R + p3 (S1² − S2 − R) − E²`` with ``S1 = Σ_{i<j} W_ij``, ``S2 = Σ_{i<j} W_ij²`` and
    ``R = Σ_i [(Σ_j W_ij)² − Σ_j W_ij²]``. Differentiable in ``mu``.
    """
    if mu.ndim != 2 or mu.shape[0] != mu.shape[1]:
        raise ValueError(f"mu must be a square [N, N] matrix; got shape {tuple(mu.shape)}")
    N = mu.shape[0]
    if n0 < 1 or n1 < 1 or n0 + n1 != N:
        raise ValueError(f"need n0, n1 >= 1 with n0 + n1 = N = {N}; got n0 = {n0}, n1 = {n1}")
    if N < 4:
        raise ValueError("the variance formula needs N >= 4 points")
    W = mu + mu.T
    W = W - torch.diag(torch.diagonal(W))
    p1 = 2.0 * n0 * n1 / (N * (N - 1))
    p2 = n0 * n1 / (N * (N - 1))
    p3 = 4.0 * n0 * n1 * (n0 - 1) * (n1 - 1) / (N * (N - 1) * (N - 2) * (N - 3))
    S1 = W.sum() / 2
    S2 = (W * W).sum() / 2
    R = (W.sum(1) ** 2 - (W * W).sum(1)).sum()
    mean = p1 * S1
    var = p1 * S2 + p2 * R + p3 * (S1 * S1 - S2 - R) - mean * mean
    return mean, var


def t_statistic(X0, X1, lam=0.1, eps=1e-4):
    """The standardised statistic ``t^λ`` of eq. (4); about N(0, 1) when both samples come from one
    distribution, strongly negative when they separate."""
    X0, X1 = _pair(X0, X1)
    mu = edge_marginals(torch.cat([X0, X1]), lam, eps)
    T = (mu * _cross(X0.shape[0], X1.shape[0], mu)).sum()
    mean, var = null_moments(mu, X0.shape[0], X1.shape[0])
    return (T - mean) / torch.sqrt(var.clamp_min(torch.finfo(var.dtype).tiny))


def graph_loss(X0, X1, lam=0.1, eps=1e-4):
    """``L_stat = −t^λ(X0, X1)`` of eq. (5): minimise it to make ``X1`` indistinguishable from ``X0``."""
    return -t_statistic(X0, X1, lam, eps)


def permutation_null(X0, X1, lam=0.1, n_perm=1000, generator=None, eps=1e-4):
    """``n_perm`` values of ``T^λ`` under random relabellings (Monte Carlo H0), as a 1-D tensor; no gradient.

    The permutations are drawn in one batch from ``generator`` (a ``torch.Generator`` on the CPU)."""
    if n_perm < 1:
        raise ValueError(f"n_perm must be >= 1; got {n_perm}")
    X0, X1 = _pair(X0, X1)
    n0, N = X0.shape[0], X0.shape[0] + X1.shape[0]
    with torch.no_grad():
        mu = edge_marginals(torch.cat([X0, X1]), lam, eps)
        ranks = torch.argsort(torch.rand(n_perm, N, generator=generator), dim=1).to(mu.device)
        labels = (ranks >= n0).to(mu.dtype)  # a uniformly random labelling with exactly n1 ones per row
        # T = Σ_ij μ_ij [l_i (1 − l_j) + (1 − l_i) l_j]
        Ml = labels @ mu.T  # Σ_j μ_ij l_j, [B, N]
        rows = mu.sum(1)
        T = (labels * (rows - Ml)).sum(1) + ((1 - labels) * Ml).sum(1)
    return T
