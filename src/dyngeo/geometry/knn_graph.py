"""The adjacency-spectral distance between k-nearest-neighbour graphs (Gong et al. 2025, eq. 3).

Each point of a cloud is a vertex; ``A[i, j] = 1`` when point ``i`` is one of the ``k`` nearest
neighbours (Euclidean, the point itself excluded) of point ``j``, else 0. Two clouds of the same size
``n`` (data and reconstruction, sample ``i`` of one paired with sample ``i`` of the other) give two
graphs, compared by the eigenvalues of their adjacency matrices:

    S(G1, G2) = sqrt( Σ_i |λ_i(A1) − λ_i(A2)|² ).

``A`` is not symmetric (``i`` can be a neighbour of ``j`` without the converse), so its eigenvalues
are complex in general and the paper does not say in which order to pair them. Here both spectra are
sorted by decreasing real part, ties by decreasing imaginary part (a conjugate pair ``a ± bi`` has
equal real parts, so ``a + bi`` comes first). ``symmetric=True`` uses ``max(A, Aᵀ)`` instead, whose
spectrum is real and numerically stable; it is not the paper's choice.

Small eigenvalues of a 0/1 matrix with defective (Jordan) blocks move by about ``ε^{1/m}`` under a
rounding error ``ε`` (``m`` the block size), so two graphs that differ only by the order of the
points can be at a distance of order 1e-3 rather than 1e-15; the directed distance is a coarse
summary and should be read at that resolution.
"""

import torch

__all__ = ["knn_adjacency", "adjacency_spectrum", "adjacency_spectral_distance", "spectral_distance"]


def _cloud(X, name):
    X = torch.as_tensor(X)
    if X.dim() != 2 or X.shape[0] < 2:
        raise ValueError(f"{name} must be a point cloud [n, d] with n >= 2; got shape {tuple(X.shape)}")
    if not torch.is_floating_point(X):
        X = X.double()
    if not torch.isfinite(X).all():
        raise ValueError(f"{name} contains NaN or inf")
    return X


def knn_adjacency(X, k):
    """The binary adjacency ``A`` ``[n, n]`` of the kNN graph of ``X`` ``[n, d]`` (paper, Sec. 3.2):
    ``A[i, j] = 1`` when ``i`` is among the ``k`` nearest neighbours of ``j`` (self excluded), so every
    column sums to ``k``. Float64, on ``X``'s device. Ties between equal distances go to the lower index."""
    X = _cloud(X, "X")
    n = X.shape[0]
    if int(k) != k or not 1 <= k < n:
        raise ValueError(f"k must be an integer in [1, n - 1] = [1, {n - 1}]; got {k}")
    D = torch.cdist(X.double(), X.double())
    D.fill_diagonal_(float("inf"))
    order = torch.argsort(D, dim=1, stable=True)[:, : int(k)]  # row j: the k nearest neighbours of j
    A = torch.zeros(n, n, dtype=torch.float64, device=X.device)
    A[order, torch.arange(n, device=X.device)[:, None]] = 1.0
    return A


def adjacency_spectrum(A, symmetric=False):
    """Eigenvalues of the square matrix ``A``, sorted by decreasing real part, ties by decreasing
    imaginary part (complex128). With ``symmetric``, those of ``max(A, Aᵀ)`` (real, decreasing)."""
    A = torch.as_tensor(A)
    if A.dim() != 2 or A.shape[0] != A.shape[1]:
        raise ValueError(f"an adjacency matrix must be square; got shape {tuple(A.shape)}")
    A = A.double()
    if symmetric:
        lam = torch.linalg.eigvalsh(torch.maximum(A, A.T)).flip(0)
        return lam.to(torch.complex128)
    lam = torch.linalg.eigvals(A)
    lam = lam[torch.argsort(-lam.imag, stable=True)]  # secondary key first, then a stable sort on the primary
    return lam[torch.argsort(-lam.real, stable=True)]


def adjacency_spectral_distance(A1, A2, symmetric=False):
    """Eq. (3): ``sqrt(Σ_i |λ_i(A1) − λ_i(A2)|²)`` for two adjacency matrices of the same size, the
    eigenvalues paired in the order of :func:`adjacency_spectrum`."""
    A1, A2 = torch.as_tensor(A1), torch.as_tensor(A2)
    if A1.shape != A2.shape:
        raise ValueError(f"the two graphs must have the same number of vertices; got {tuple(A1.shape)} "
                         f"and {tuple(A2.shape)}")
    l1, l2 = adjacency_spectrum(A1, symmetric), adjacency_spectrum(A2.to(A1.device), symmetric)
    return float(torch.linalg.vector_norm(l1 - l2))


def spectral_distance(X1, X2, k, symmetric=False):
    """The distance of eq. (3) between the kNN graphs of two clouds ``[n, d1]`` and ``[n, d2]`` of the
    same size (the paper uses ``k = 5`` and ``k = 20``)."""
    X1, X2 = _cloud(X1, "X1"), _cloud(X2, "X2")
    if X1.shape[0] != X2.shape[0]:
        raise ValueError(f"both clouds need the same number of points; got {X1.shape[0]} and {X2.shape[0]}")
    return adjacency_spectral_distance(knn_adjacency(X1, k), knn_adjacency(X2, k), symmetric)
