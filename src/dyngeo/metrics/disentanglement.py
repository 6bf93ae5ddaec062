"""Information-based disentanglement scores on a code ``[N, d]`` and discrete ground-truth factors ``[N, K]``.

Every score starts from the mutual-information matrix ``I[j, k] = I(z_j; v_k)`` between each code
dimension, discretised into equal-width bins, and each factor, in nats (plug-in estimates from the
joint histogram, the same estimator as ``sklearn.metrics.mutual_info_score``), and from the factor
entropies ``H(v_k)``. The four scores Shukla et al. (2024) report in their Table 3:

- ``mig`` (Chen et al. 2018): for each factor, the gap between the two code dimensions that know most
  about it, over ``H(v_k)``; averaged over factors.
- ``mig_sup`` (Li et al. 2020): the transpose: for each code dimension, the gap between the two factors it
  knows most about (each normalised by its entropy); averaged over code dimensions. Needs K >= 2.
- ``dcimig`` (Sepliarskaia et al. 2019): each code dimension is credited to its best factor with its gap
  ``I(z_j; v_k1) − I(z_j; v_k2)``; each factor keeps its largest credit; the sum over factors is divided by
  ``Σ_k H(v_k)``. Needs K >= 2.
- ``jemmig`` (Do & Tran 2020), normalised so that higher is better:
  ``1 − mean_k [H(z_j*, v_k) − I(z_j*; v_k) + I(z_j°; v_k)] / (H(v_k) + log B)``, with ``z_j*`` and ``z_j°`` the
  best and second-best code dimensions for ``v_k`` and ``B`` bins.

A code that copies the factors (one dimension each) scores 1 on all four; a rotation of it scores less.
The definitions need at least two code dimensions and factors with at least two levels; otherwise the
functions raise ``ValueError``.
"""

import numpy as np
import torch

from .distributions import _features

__all__ = ["discretize", "mutual_info_matrix", "entropies", "mig", "mig_sup", "dcimig", "jemmig", "scores"]


def _factors(v, n):
    v = v.detach().cpu().numpy() if isinstance(v, torch.Tensor) else np.asarray(v)
    if v.ndim == 1:
        v = v[:, None]
    if v.ndim != 2 or v.shape[0] != n:
        raise ValueError(f"factors must be [N, K] with N = {n}; got shape {v.shape}")
    if not np.issubdtype(v.dtype, np.integer):
        if not np.all(v == np.round(v)):
            raise ValueError("factors must hold discrete (integer) levels")
    return np.stack([np.unique(col, return_inverse=True)[1] for col in v.T], 1)


def discretize(z, bins=20):
    """Each column of ``z`` [N, d] cut into ``bins`` equal-width bins between its min and max (ints [N, d]).
    A constant column falls into bin 0."""
    z = _features(z, "codes")
    if bins < 2:
        raise ValueError(f"bins must be >= 2; got {bins}")
    lo, hi = z.min(0), z.max(0)
    width = np.where(hi > lo, hi - lo, 1.0)
    return np.clip(((z - lo) / width * bins).astype(np.int64), 0, bins - 1)


def _entropy(labels):
    p = np.bincount(labels) / labels.size
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


def entropies(v):
    """``H(v_k)`` in nats for each column of the discrete ``v`` [N, K]."""
    v = _factors(v, np.shape(v)[0])
    return np.array([_entropy(col) for col in v.T])


def _mi(a, b):
    """Plug-in mutual information (nats) between two label vectors, from their joint histogram."""
    na, nb = a.max() + 1, b.max() + 1
    joint = np.bincount(a * nb + b, minlength=na * nb).reshape(na, nb) / a.size
    pa, pb = joint.sum(1, keepdims=True), joint.sum(0, keepdims=True)
    nz = joint > 0
    return float((joint[nz] * np.log(joint[nz] / (pa @ pb)[nz])).sum())


def mutual_info_matrix(codes, factors, bins=20, discrete=False):
    """``I[j, k] = I(z_j; v_k)`` (nats, [d, K]); ``codes`` are binned with :func:`discretize` unless
    ``discrete=True`` (then they are taken as integer labels)."""
    zd = _factors(codes, np.shape(codes)[0]) if discrete else discretize(codes, bins)
    return _mi_matrix(zd, _factors(factors, zd.shape[0]))


def _mi_matrix(zd, v):
    return np.array([[_mi(zd[:, j], v[:, k]) for k in range(v.shape[1])] for j in range(zd.shape[1])])


def _prepare(codes, factors, bins, discrete, need_two_factors=False):
    zd = _factors(codes, np.shape(codes)[0]) if discrete else discretize(codes, bins)
    v = _factors(factors, zd.shape[0])
    if zd.shape[1] < 2:
        raise ValueError("the score needs at least two code dimensions (a gap between the best two)")
    if need_two_factors and v.shape[1] < 2:
        raise ValueError("the score needs at least two factors (a gap between the best two)")
    H = np.array([_entropy(col) for col in v.T])
    if np.any(H <= 0):
        raise ValueError(f"every factor needs at least two levels; factors {np.where(H <= 0)[0].tolist()} are constant")
    return zd, v, H, _mi_matrix(zd, v)


def mig(codes, factors, bins=20, discrete=False):
    """Mutual information gap: ``mean_k (I(z_j1; v_k) − I(z_j2; v_k)) / H(v_k)``, ``j1, j2`` the best two
    code dimensions for factor ``k``."""
    return _mig(*_prepare(codes, factors, bins, discrete))


def _mig(zd, v, H, I):
    top = np.sort(I, axis=0)[::-1]
    return float(np.mean((top[0] - top[1]) / H))


def mig_sup(codes, factors, bins=20, discrete=False):
    """``mean_j (Ĩ(z_j; v_k1) − Ĩ(z_j; v_k2))`` with ``Ĩ = I / H(v)``, ``k1, k2`` the best two factors of
    code dimension ``j``."""
    return _mig_sup(*_prepare(codes, factors, bins, discrete, need_two_factors=True))


def _mig_sup(zd, v, H, I):
    top = np.sort(I / H, axis=1)[:, ::-1]
    return float(np.mean(top[:, 0] - top[:, 1]))


def dcimig(codes, factors, bins=20, discrete=False):
    """``Σ_k max_{j credited to k} (I(z_j; v_k) − I(z_j; v_k2(j))) / Σ_k H(v_k)``, each code dimension ``j``
    credited to its best factor ``k1(j)`` (a factor with no dimension gets 0)."""
    return _dcimig(*_prepare(codes, factors, bins, discrete, need_two_factors=True))


def _dcimig(zd, v, H, I):
    order = np.argsort(I, axis=1)[:, ::-1]
    rows = np.arange(I.shape[0])
    gaps = I[rows, order[:, 0]] - I[rows, order[:, 1]]
    best = np.zeros(I.shape[1])
    np.maximum.at(best, order[:, 0], gaps)
    return float(best.sum() / H.sum())


def jemmig(codes, factors, bins=20, discrete=False):
    """Normalised JEMMIG, higher is better: ``1 − mean_k [H(z_j*, v_k) − I(z_j*; v_k) + I(z_j°; v_k)] /
    (H(v_k) + log B)``, ``B`` = ``bins`` (or the largest number of code levels when ``discrete``)."""
    return _jemmig(*_prepare(codes, factors, bins, discrete), bins if not discrete else None)


def _jemmig(zd, v, H, I, bins):
    """``bins=None``: discrete codes, B the largest number of code levels."""
    order = np.argsort(I, axis=0)[::-1]
    ks = np.arange(I.shape[1])
    j1, j2 = order[0], order[1]
    Hz = np.array([_entropy(zd[:, j]) for j in j1])
    joint = Hz + H - I[j1, ks]  # H(z_j*, v_k)
    B = bins if bins is not None else max(int(zd.max()) + 1, 2)
    return float(1.0 - np.mean((joint - I[j1, ks] + I[j2, ks]) / (H + np.log(B))))


def scores(codes, factors, bins=20):
    """The four scores of the paper's Table 3 as a dict ``{mig, dcimig, mig_sup, jemmig}`` (the codes binned
    and the mutual informations computed once for all four)."""
    prepared = _prepare(codes, factors, bins, False, need_two_factors=True)
    return {"mig": _mig(*prepared), "dcimig": _dcimig(*prepared), "mig_sup": _mig_sup(*prepared),
            "jemmig": _jemmig(*prepared, bins)}
