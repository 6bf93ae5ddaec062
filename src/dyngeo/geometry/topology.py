"""Persistent homology of point clouds, computed by the field's libraries (chapters 15 and 16).

A persistence diagram ``D_k(X)`` lists, for each ``k``-dimensional feature of the growing union of
balls around the points of ``X`` (components for ``k = 0``, loops for ``k = 1``, voids for ``k = 2``),
the scale at which it appears (birth) and the scale at which it is filled in (death). This module
never computes persistence itself:

- :func:`diagrams` calls **ripser** for the Vietoris–Rips filtration (the default), **gudhi**'s
  ``RipsComplex`` as an independent implementation of the same filtration, or gudhi's
  ``AlphaComplex`` for low-dimensional clouds (H2 on thousands of points in R³);
- :func:`bottleneck` and :func:`wasserstein` call gudhi (persim gives the same numbers; the tests
  compare them).

Scales: a Rips edge enters at the *distance* between its two points. An alpha simplex enters at the
squared radius of its smallest empty circumscribing ball; :func:`diagrams` reports alpha scales as
``2 sqrt(value)`` (a diameter), so that both filtrations read in the same units (the alpha / Čech
filtration and the Rips filtration interleave but are not equal).

Every array returned is a NumPy float64 array ``[m, 2]`` of ``(birth, death)`` rows; a feature that
never dies (the one component that survives) has ``death = inf``.
"""

import numpy as np
import torch

__all__ = [
    "as_points",
    "greedy_subsample",
    "diagrams",
    "persistence",
    "finite",
    "top_k",
    "betti",
    "bottleneck",
    "wasserstein",
    "plot_diagram",
    "plot_barcode",
]


def as_points(X, name="X"):
    """``X`` (tensor or array-like ``[N, d]``) as a float64 NumPy array, checked for shape and finiteness."""
    if isinstance(X, torch.Tensor):
        X = X.detach().cpu().double().numpy()
    X = np.asarray(X, dtype=np.float64)
    if X.ndim == 1:
        X = X[:, None]
    if X.ndim != 2 or X.shape[0] < 1:
        raise ValueError(f"{name} must be a point cloud [N, d] with N >= 1; got shape {X.shape}")
    if not np.isfinite(X).all():
        raise ValueError(f"{name} contains NaN or inf")
    return X


def greedy_subsample(X, m, seed=0, return_radius=False):
    """Indices of ``m`` points of ``X`` chosen by greedy farthest-point (maxmin) sampling.

    Start from a point drawn with ``seed``; then repeatedly add the point farthest from those already
    chosen. The chosen points form an ``ε``-net of ``X`` with ``ε`` the returned covering radius (the
    largest distance from a point of ``X`` to the subsample), so the Rips diagram of the subsample is
    within ``2ε`` of that of ``X`` in bottleneck distance. With ``return_radius`` returns
    ``(indices, ε)``.
    """
    X = as_points(X)
    n = X.shape[0]
    if not 1 <= int(m) <= n:
        raise ValueError(f"m must be between 1 and the number of points {n}; got {m}")
    m = int(m)
    rng = np.random.default_rng(seed)
    idx = np.empty(m, dtype=np.int64)
    idx[0] = rng.integers(n)
    dist = np.linalg.norm(X - X[idx[0]], axis=1)
    for i in range(1, m):  # one vectorised O(N d) update per chosen point
        idx[i] = int(np.argmax(dist))
        dist = np.minimum(dist, np.linalg.norm(X - X[idx[i]], axis=1))
    if return_radius:
        return idx, float(dist.max())
    return idx


def _from_gudhi(pairs, maxdim, transform):
    out = [[] for _ in range(maxdim + 1)]
    for dim, (b, d) in pairs:
        if dim <= maxdim:
            out[dim].append((transform(b), transform(d)))
    return [np.asarray(o, dtype=np.float64).reshape(-1, 2) for o in out]


def diagrams(X, maxdim=1, method="ripser", n_sub=None, thresh=np.inf, seed=0):
    """Persistence diagrams ``[D_0, ..., D_maxdim]`` of the point cloud ``X`` ``[N, d]``.

    method:
      ``"ripser"`` — Vietoris–Rips filtration by ripser (edge scale = Euclidean distance);
      ``"gudhi"`` — the same filtration computed by gudhi's ``RipsComplex`` (a cross-check);
      ``"alpha"`` — gudhi's ``AlphaComplex``, scales reported as ``2 sqrt(alpha²)`` (see the module
      docstring); practical in dimension ``d <= 3`` for thousands of points.
    n_sub: if given, first keep ``n_sub`` points by :func:`greedy_subsample` (seeded by ``seed``).
    thresh: largest edge length of the Rips filtration (features alive at ``thresh`` get ``death = inf``).
    Returns a list of ``maxdim + 1`` float64 arrays ``[m_k, 2]`` of (birth, death) pairs.
    """
    X = as_points(X)
    if int(maxdim) != maxdim or maxdim < 0:
        raise ValueError(f"maxdim must be a non-negative integer; got {maxdim}")
    maxdim = int(maxdim)
    if n_sub is not None and n_sub < X.shape[0]:
        X = X[greedy_subsample(X, n_sub, seed=seed)]
    if method == "ripser":
        from ripser import ripser

        if X.shape[1] > X.shape[0]:  # images: hand ripser the distance matrix (cheaper, no warning)
            from scipy.spatial.distance import pdist, squareform

            dgms = ripser(squareform(pdist(X)), maxdim=maxdim, thresh=thresh, distance_matrix=True)["dgms"]
        else:
            dgms = ripser(X, maxdim=maxdim, thresh=thresh)["dgms"]
        return [np.asarray(d, dtype=np.float64).reshape(-1, 2) for d in dgms]
    if method == "gudhi":
        import gudhi

        rips = gudhi.RipsComplex(points=X, max_edge_length=thresh)
        st = rips.create_simplex_tree(max_dimension=maxdim + 1)
        return _from_gudhi(st.persistence(homology_coeff_field=2, min_persistence=0.0), maxdim, float)
    if method == "alpha":
        import gudhi

        st = gudhi.AlphaComplex(points=X).create_simplex_tree()
        pairs = st.persistence(homology_coeff_field=2, min_persistence=0.0)
        return _from_gudhi(pairs, maxdim, lambda v: 2.0 * np.sqrt(max(v, 0.0)))
    raise ValueError(f"method must be 'ripser', 'gudhi' or 'alpha'; got {method!r}")


def _diagram(d, name="diagram"):
    d = np.asarray(d.detach().cpu() if isinstance(d, torch.Tensor) else d, dtype=np.float64)
    if d.size == 0:
        return d.reshape(0, 2)
    if d.ndim != 2 or d.shape[1] != 2:
        raise ValueError(f"{name} must be an array [m, 2] of (birth, death) pairs; got shape {d.shape}")
    if np.isnan(d).any():
        raise ValueError(f"{name} contains NaN")
    if (d[:, 1] < d[:, 0]).any():
        raise ValueError(f"{name} has a point with death < birth")
    return d


def persistence(dgm):
    """``death − birth`` of each point of a diagram (``inf`` for a feature that never dies)."""
    d = _diagram(dgm)
    return d[:, 1] - d[:, 0]


def finite(dgm):
    """The points of a diagram whose death is finite."""
    d = _diagram(dgm)
    return d[np.isfinite(d[:, 1])]


def top_k(dgm, k, include_infinite=False):
    """The ``k`` most persistent points of a diagram, most persistent first (``[min(k, m), 2]``).
    Points that never die are left out unless ``include_infinite``."""
    d = _diagram(dgm)
    if not include_infinite:
        d = d[np.isfinite(d[:, 1])]
    order = np.argsort(-(d[:, 1] - d[:, 0]), kind="stable")
    return d[order[: int(k)]]


def betti(dgms, r):
    """Betti numbers at scale ``r``: for each diagram, the number of features alive at ``r``
    (``birth <= r < death``). ``dgms`` is one diagram or a list of them; returns an int or an int array."""
    if isinstance(dgms, (list, tuple)):
        return np.array([betti(d, r) for d in dgms], dtype=np.int64)
    d = _diagram(dgms)
    return int(((d[:, 0] <= r) & (r < d[:, 1])).sum())


def _pair(d1, d2, drop_infinite):
    d1, d2 = _diagram(d1, "d1"), _diagram(d2, "d2")
    if drop_infinite:
        d1, d2 = d1[np.isfinite(d1[:, 1])], d2[np.isfinite(d2[:, 1])]
    return d1, d2


def bottleneck(d1, d2, drop_infinite=True):
    """Bottleneck distance ``inf_γ sup_x ||x − γ(x)||_∞`` between two diagrams (points may be matched
    to the diagonal), computed exactly by gudhi. Points that never die are dropped unless
    ``drop_infinite=False`` (then their numbers must agree, else the distance is ``inf``)."""
    import gudhi

    d1, d2 = _pair(d1, d2, drop_infinite)
    return float(gudhi.bottleneck_distance(d1, d2, 0.0))


def wasserstein(d1, d2, p=2.0, internal_p=np.inf, drop_infinite=True):
    """``p``-Wasserstein distance ``(inf_γ Σ_x ||x − γ(x)||_q^p)^{1/p}`` between two diagrams, points
    matched to each other or to the diagonal, with ground metric ``L_q``, ``q = internal_p`` (L∞ by
    default, as in giotto-tda; persim's ``wasserstein`` is ``p = 1, internal_p = 2``), computed by gudhi
    (optimal transport through POT)."""
    from gudhi.wasserstein import wasserstein_distance

    if p < 1:
        raise ValueError(f"p must be >= 1; got {p}")
    d1, d2 = _pair(d1, d2, drop_infinite)
    return float(wasserstein_distance(d1, d2, order=float(p), internal_p=float(internal_p)))


_COLORS = ["tab:blue", "tab:orange", "tab:green", "tab:red"]


def plot_diagram(ax, dgms, labels=None, lim=None, s=12, title=None):
    """Scatter persistence diagrams (one colour per dimension) above the diagonal; points that never
    die are drawn on a dashed line at the top labelled ∞."""
    dgms = dgms if isinstance(dgms, (list, tuple)) else [dgms]
    dgms = [_diagram(d) for d in dgms]
    fin = np.concatenate([finite(d) for d in dgms] + [np.zeros((1, 2))])
    top = lim if lim is not None else 1.05 * max(fin.max(), 1e-9)
    inf_y = top * 1.02
    for k, d in enumerate(dgms):
        y = np.where(np.isfinite(d[:, 1]), d[:, 1], inf_y)
        lab = labels[k] if labels is not None else f"$H_{k}$"
        ax.scatter(d[:, 0], y, s=s, color=_COLORS[k % 4], label=lab, alpha=0.8, edgecolors="none")
    ax.plot([0, inf_y], [0, inf_y], color="0.5", lw=0.8)
    if any(np.isinf(d[:, 1]).any() for d in dgms):
        ax.axhline(inf_y, color="0.5", ls="--", lw=0.6)
        ax.text(0.0, inf_y, "∞", va="bottom", fontsize=8)
    ax.set_xlim(-0.02 * top, inf_y * 1.03)
    ax.set_ylim(-0.02 * top, inf_y * 1.06)
    ax.set_xlabel("birth")
    ax.set_ylabel("death")
    ax.legend(loc="lower right", fontsize=8)
    if title:
        ax.set_title(title)
    return ax


def plot_barcode(ax, dgms, k_max=None, title=None):
    """Draw the bars of each diagram, most persistent first within a dimension, dimensions stacked
    (``k_max`` bars per dimension at most); a bar that never dies runs to the right edge."""
    dgms = dgms if isinstance(dgms, (list, tuple)) else [dgms]
    dgms = [_diagram(d) for d in dgms]
    fin = np.concatenate([finite(d) for d in dgms] + [np.zeros((1, 2))])
    right = 1.05 * max(fin.max(), 1e-9)
    row = 0
    for k, d in enumerate(dgms):
        d = top_k(d, k_max if k_max is not None else len(d), include_infinite=True)
        for b, e in d[::-1]:
            ax.plot([b, min(e, right)], [row, row], color=_COLORS[k % 4], lw=1.5)
            row += 1
        ax.plot([], [], color=_COLORS[k % 4], label=f"$H_{k}$")
        row += 2
    ax.set_yticks([])
    ax.set_xlim(0, right)
    ax.set_xlabel("scale")
    ax.legend(loc="lower right", fontsize=8)
    if title:
        ax.set_title(title)
    return ax
