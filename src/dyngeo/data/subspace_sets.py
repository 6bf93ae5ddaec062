"""Sets of data as subspaces (Karimov, Kirby & Peterson 2023): groups of images as points of a
Grassmannian, planted Schubert data with a known answer, and Haar-random subspaces as a null.

Bases are float64 tensors ``[r, n, l]`` with orthonormal columns; labels are int64.
"""

from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["SubspaceSplit", "set_bases", "digit_sets", "planted_schubert", "haar_bases"]


def set_bases(X, y, l, seed=0):
    """Split the rows of ``X`` ``[N, n]`` into disjoint groups of ``l`` rows of one class each (the rest of
    a class is dropped) and return each group's orthonormal basis ``[r, n, l]`` (from the SVD), the labels
    ``[r]`` and the row indices ``[r, l]`` of each group. Rank-deficient groups are skipped."""
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    if not (isinstance(l, int) and l >= 1):
        raise ValueError(f"l must be a positive integer; got {l!r}")
    rng = np.random.default_rng(seed)
    bases, labels, groups = [], [], []
    for cls in np.unique(y):
        rows = rng.permutation(np.flatnonzero(y == cls))
        for start in range(0, len(rows) - l + 1, l):
            idx = rows[start:start + l]
            U, S, _ = np.linalg.svd(X[idx].T, full_matrices=False)
            if S[-1] <= 1e-10 * S[0]:
                continue
            bases.append(U)
            labels.append(cls)
            groups.append(idx)
    if not bases:
        raise ValueError(f"no group of {l} rows of one class could be formed")
    return (torch.as_tensor(np.stack(bases)), torch.as_tensor(np.asarray(labels), dtype=torch.long),
            torch.as_tensor(np.stack(groups), dtype=torch.long))


@dataclass
class SubspaceSplit:
    """Training and test sets as bases, with the images they came from (``images[index]``)."""

    train: torch.Tensor  # [r_train, n, l]
    train_labels: torch.Tensor
    test: torch.Tensor  # [r_test, n, m]
    test_labels: torch.Tensor
    train_images: torch.Tensor  # [N_train, n], the training images (for PCA baselines)
    train_image_labels: torch.Tensor
    train_groups: torch.Tensor  # [r_train, l] rows of train_images
    test_images: torch.Tensor
    test_groups: torch.Tensor


def digit_sets(l, m=None, classes=(3, 8), test_fraction=0.22, seed=0, scale="symmetric"):
    """scikit-learn's 8x8 digits as sets: the images of ``classes`` are split into training and test images
    (``test_fraction``, 0.22 as in the paper), then grouped into sets of ``l`` (training) and ``m`` (test,
    default ``l``) images of one class, each set becoming an orthonormal ``64 x l`` basis.

    ``scale="symmetric"`` maps pixels to [-1, 1] as the paper does with its cats and dogs; ``"unit"`` keeps
    [0, 1]. ``classes=None`` keeps all ten digits.
    """
    from sklearn.datasets import load_digits

    m = l if m is None else m
    data = load_digits()
    X, y = data.data / 16.0, data.target
    if scale == "symmetric":
        X = 2 * X - 1
    elif scale != "unit":
        raise ValueError(f"scale must be 'symmetric' or 'unit'; got {scale!r}")
    if classes is not None:
        keep = np.isin(y, classes)
        X, y = X[keep], y[keep]
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(y))
    n_test = int(round(test_fraction * len(y)))
    te, tr = order[:n_test], order[n_test:]
    Btr, ytr, gtr = set_bases(X[tr], y[tr], l, seed=seed + 1)
    Bte, yte, gte = set_bases(X[te], y[te], m, seed=seed + 2)
    return SubspaceSplit(Btr, ytr, Bte, yte, torch.as_tensor(X[tr]), torch.as_tensor(y[tr], dtype=torch.long), gtr,
                         torch.as_tensor(X[te]), gte)


def haar_bases(r, n, l, seed=0):
    """``r`` points of ``Gr(l, n)`` drawn from the uniform (Haar) distribution: orthonormal bases ``[r, n, l]``
    from the QR factorisation of Gaussian matrices (the signs fixed by ``diag R > 0``)."""
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(r, n, l, generator=g, dtype=torch.float64)
    Q, R = torch.linalg.qr(A)
    return Q * torch.sign(torch.diagonal(R, dim1=1, dim2=2)).unsqueeze(1)


def planted_schubert(n, l, k, r, c=1, noise=0.0, seed=0):
    """Planted Schubert data: a hidden ``W`` ``[n, k]`` (orthonormal) and ``r`` bases ``[r, n, l]`` whose spans
    each contain ``c`` random directions of ``span W`` plus ``l - c`` random directions of ``R^n``, so
    every span lies on ``Ω_{c,k,l}(W)``. ``noise`` adds a Gaussian perturbation of that relative size to
    the spanning vectors before orthonormalising. Returns ``(Xs, W)``."""
    if not (1 <= c <= min(l, k) and l <= n and k <= n):
        raise ValueError(f"need 1 <= c <= min(l, k) and l, k <= n; got n={n}, l={l}, k={k}, c={c}")
    g = torch.Generator().manual_seed(seed)
    W, _ = torch.linalg.qr(torch.randn(n, k, generator=g, dtype=torch.float64))
    inside = W @ torch.randn(r, k, c, generator=g, dtype=torch.float64)  # [r, n, c]
    outside = torch.randn(r, n, l - c, generator=g, dtype=torch.float64)
    V = torch.cat([inside, outside], dim=2)
    V = V / V.norm(dim=1, keepdim=True)
    V = V + noise * torch.randn(V.shape, generator=g, dtype=torch.float64) / n**0.5
    Q, _ = torch.linalg.qr(V)
    return Q, W
