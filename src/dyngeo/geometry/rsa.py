"""Representational similarity analysis (Pickard et al. 2023, "Exploring fMRI RDMs").

* :func:`rdm` — the representational dissimilarity matrix of eq. (2)–(3): the correlation distance
  ``1 - corr(v_i, v_j)`` between the feature vectors of two stimuli (stimuli in rows, each row centred on
  its own feature mean), equal to ``scipy.spatial.distance.pdist(V, 'correlation')``.
* :func:`upper`, :func:`compare_rdms` — the flattened upper triangle and eq. (4), the "biological
  similarity" ρ(R̂₁, R̂₂) with Pearson or Spearman ρ.
* :func:`categorical_rdms`, :func:`fit_categorical_model` — one binary RDM per super-category and their
  non-negative least-squares fit to a target RDM (Section 3.6; the paper used rsatoolbox's weighted model,
  here ``scipy.optimize.nnls`` on the upper triangles, without intercept).
* :func:`layer_rdms`, :func:`best_layer` — RDMs of a network's layers through forward hooks.
* :func:`laplacian`, :func:`fiedler_vector`, :func:`fiedler_accuracy` — Algorithm 1 (Fiedler partitioning
  of a two-category sub-RDM), with the accuracy computed as the best match of the two parts to the two
  labels. The accuracy as printed in the paper, (|P₁| + |P₂|)/N, is 1 whenever no entry of e₂ is exactly 0;
  :func:`printed_fiedler_accuracy` keeps it to show that.
* :func:`bootstrap_ci`, :func:`rdm_bootstrap_pvalue` — BCa intervals over resampled stimuli with a
  Bonferroni correction (``scipy.stats.bootstrap``) and a bootstrap p-value of a correlation against 0.

RDMs are returned as the input's type: a torch tensor (same device, float64) for tensor input, a
float64 NumPy array otherwise. The graph and statistics functions work on NumPy arrays.
"""

import warnings

import numpy as np
import scipy.linalg
import scipy.optimize
import scipy.stats
import torch

__all__ = ["rdm", "upper", "compare_rdms", "categorical_rdms", "fit_categorical_model", "layer_rdms", "best_layer",
           "laplacian", "fiedler_vector", "fiedler_partition", "partition_accuracy", "fiedler_accuracy",
           "printed_fiedler_accuracy", "pair_indices", "bootstrap_ci", "rdm_bootstrap_pvalue"]


def _numpy(x, name, ndim=None):
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    x = np.asarray(x, dtype=np.float64)
    if ndim is not None and x.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions; got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} contains NaN or inf")
    return x


def _square(R, name="R"):
    R = _numpy(R, name, 2)
    if R.shape[0] != R.shape[1]:
        raise ValueError(f"{name} must be square; got shape {R.shape}")
    return R


def rdm(V):
    """The RDM of eq. (2)–(3) for ``V`` ``[m, n]`` (m stimuli in rows, n features): the full symmetric
    ``[m, m]`` matrix ``R_ij = 1 - (v_i - v̄_i)·(v_j - v̄_j) / (|v_i - v̄_i| |v_j - v̄_j|)`` with v̄_i the mean
    of row i's features; zero diagonal, entries in [0, 2]. A constant row has no correlation: error."""
    is_tensor = isinstance(V, torch.Tensor)
    X = V.detach().to(torch.float64) if is_tensor else torch.as_tensor(np.asarray(V, dtype=np.float64))
    if X.ndim != 2:
        raise ValueError(f"V must be [stimuli, features]; got shape {tuple(X.shape)}")
    if X.shape[0] < 2 or X.shape[1] < 2:
        raise ValueError(f"need at least 2 stimuli and 2 features; got shape {tuple(X.shape)}")
    if not torch.isfinite(X).all():
        raise ValueError("V contains NaN or inf")
    Xc = X - X.mean(dim=1, keepdim=True)
    norms = Xc.norm(dim=1, keepdim=True)
    if (norms <= 1e-12 * (1 + X.abs().amax(dim=1, keepdim=True))).any():
        raise ValueError("a row of V is constant: its correlation distance is undefined")
    Z = Xc / norms
    R = (1.0 - Z @ Z.T).clamp(0.0, 2.0)
    R = 0.5 * (R + R.T)
    R.fill_diagonal_(0.0)
    return R if is_tensor else R.numpy()


def upper(R):
    """The strict upper triangle of a square RDM, row by row (eq. 3): ``m(m-1)/2`` entries."""
    if isinstance(R, torch.Tensor):
        if R.ndim != 2 or R.shape[0] != R.shape[1]:
            raise ValueError(f"R must be square; got shape {tuple(R.shape)}")
        i, j = torch.triu_indices(R.shape[0], R.shape[0], 1, device=R.device)
        return R[i, j]
    R = np.asarray(R)
    if R.ndim != 2 or R.shape[0] != R.shape[1]:
        raise ValueError(f"R must be square; got shape {R.shape}")
    return R[np.triu_indices(R.shape[0], 1)]


def compare_rdms(R1, R2, method="pearson"):
    """Eq. (4): the correlation of the upper triangles of two RDMs of the same stimuli (``'pearson'`` as in
    the paper's Table 2, or ``'spearman'``, the rank correlation used by other benchmarks)."""
    a, b = upper(_square(R1, "R1")), upper(_square(R2, "R2"))
    if a.shape != b.shape:
        raise ValueError(f"the RDMs must be of the same stimuli; got {len(a)} and {len(b)} pairs")
    if method == "spearman":
        a, b = scipy.stats.rankdata(a), scipy.stats.rankdata(b)
    elif method != "pearson":
        raise ValueError(f"method must be 'pearson' or 'spearman'; got {method!r}")
    a, b = a - a.mean(), b - b.mean()
    den = np.sqrt((a @ a) * (b @ b))
    if den == 0:
        raise ValueError("an RDM is constant: its correlation is undefined")
    return float(a @ b / den)


def categorical_rdms(labels, n_classes=None):
    """One binary RDM per category ``[C, m, m]`` (Section 3.6): 0 for pairs of two stimuli of category c
    (the minimum dissimilarity), 1 for all other pairs; zero diagonal."""
    y = np.asarray(labels.cpu() if isinstance(labels, torch.Tensor) else labels)
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer) or (y < 0).any():
        raise ValueError("labels must be a 1-D array of non-negative integers")
    C = int(y.max()) + 1 if n_classes is None else int(n_classes)
    out = np.ones((C, len(y), len(y)))
    for c in range(C):
        inside = y == c
        out[c][np.ix_(inside, inside)] = 0.0
        np.fill_diagonal(out[c], 0.0)
    return out


def fit_categorical_model(labels, R_target, n_classes=None):
    """Fit ``R_target ≈ Σ_c w_c R_c`` with ``w ≥ 0`` on the upper triangles (``scipy.optimize.nnls``; a stand-in
    for rsatoolbox's weighted model, which the paper used, written out because the chapter teaches it).
    Returns ``(w [C], R_pred [m, m])``."""
    R_target = _square(R_target, "R_target")
    Rc = categorical_rdms(labels, n_classes)
    if Rc.shape[1] != R_target.shape[0]:
        raise ValueError(f"{Rc.shape[1]} labels for an RDM of {R_target.shape[0]} stimuli")
    A = np.stack([upper(R) for R in Rc], axis=1)
    w, _ = scipy.optimize.nnls(A, upper(R_target))
    return w, np.tensordot(w, Rc, axes=1)


def layer_rdms(model, X, layers=None):
    """RDMs of the outputs of ``model``'s sub-modules on the stimuli ``X`` (a batch), through forward hooks.
    ``layers``: names from ``model.named_modules()``; by default every leaf module. Each output is
    flattened per stimulus. Returns ``{name: R}`` (float64 tensors) in the order of the forward pass."""
    modules = dict(model.named_modules())
    if layers is None:
        layers = [n for n, m in modules.items() if n and not any(True for _ in m.children())]
    unknown = [n for n in layers if n not in modules]
    if unknown:
        raise ValueError(f"no such layers: {unknown}; the model has {[n for n in modules if n]}")
    outputs, hooks = {}, []
    for name in layers:
        def hook(mod, inp, out, name=name):  # returns None: a hook that returns a value replaces the output
            outputs.setdefault(name, out.detach().flatten(1))

        hooks.append(modules[name].register_forward_hook(hook))
    try:
        was_training = model.training
        model.eval()
        with torch.no_grad():
            model(X)
        model.train(was_training)
    finally:
        for h in hooks:
            h.remove()
    return {name: rdm(out) for name, out in outputs.items()}


def best_layer(rdms, R_ref, method="pearson"):
    """The layer whose RDM correlates most with ``R_ref``: ``(name, correlation, {name: correlation})``."""
    scores = {name: compare_rdms(R, R_ref, method) for name, R in rdms.items()}
    name = max(scores, key=scores.get)
    return name, scores[name], scores


def laplacian(A):
    """The graph Laplacian ``L = D - A`` of a symmetric adjacency (weight) matrix, ``D = diag(A 𝟙)``.
    Self-loops (the diagonal of A) cancel in L."""
    A = _square(A, "A")
    if not np.allclose(A, A.T, atol=1e-10):
        raise ValueError("A must be symmetric")
    return np.diag(A.sum(axis=1)) - A


def fiedler_vector(L):
    """The eigenvalue λ₂ and unit eigenvector e₂ of the second-smallest eigenvalue of a symmetric Laplacian
    (``scipy.linalg.eigh``). Its sign is arbitrary; for a connected graph e₂ ⟂ 𝟙."""
    L = _square(L, "L")
    if L.shape[0] < 2:
        raise ValueError("a Fiedler vector needs at least 2 nodes")
    vals, vecs = scipy.linalg.eigh(L, subset_by_index=[1, 1])
    return float(vals[0]), vecs[:, 0]


def fiedler_partition(R, clip_negative=False):
    """Algorithm 1, steps 2–6: ``A = 1 - R``, ``L = D - A``, e₂ of L, and the part ``e₂ > 0`` (boolean [m]).
    Where R > 1 (anti-correlated stimuli) A is negative; the paper does not say what it did there, and
    ``clip_negative=True`` sets those weights to 0."""
    A = 1.0 - _square(R)
    if clip_negative:
        A = np.clip(A, 0.0, None)
    return fiedler_vector(laplacian(A))[1] > 0


def partition_accuracy(part, labels):
    """The fraction of stimuli a two-way partition puts with their label, under the better of the two ways
    of naming the parts (the sign of e₂ is arbitrary): ``max(agree, 1 - agree)``; ``labels`` has two values."""
    part = np.asarray(part).astype(bool).ravel()
    y = np.asarray(labels).ravel()
    values = np.unique(y)
    if len(values) != 2 or len(y) != len(part):
        raise ValueError(f"need two labels for each of {len(part)} stimuli; got values {values[:5]} for {len(y)}")
    agree = np.mean(part == (y == values[1]))
    return float(max(agree, 1.0 - agree))


def pair_indices(labels, c1, c2):
    """The indices of the stimuli of categories c1 and c2 (step 1 of Algorithm 1)."""
    y = np.asarray(labels.cpu() if isinstance(labels, torch.Tensor) else labels)
    idx = np.flatnonzero((y == c1) | (y == c2))
    if not ((y[idx] == c1).any() and (y[idx] == c2).any()):
        raise ValueError(f"categories {c1} and {c2} must both have stimuli")
    return idx


def fiedler_accuracy(R, labels, c1=None, c2=None, clip_negative=False):
    """Algorithm 1 done right: the Fiedler partition of the sub-RDM of categories c1 and c2 (all stimuli if
    None) scored by :func:`partition_accuracy`. Chance is about 0.5 for balanced pairs (the larger class's
    share for unbalanced ones)."""
    R = _square(R)
    y = np.asarray(labels.cpu() if isinstance(labels, torch.Tensor) else labels)
    idx = np.arange(len(y)) if c1 is None else pair_indices(y, c1, c2)
    return partition_accuracy(fiedler_partition(R[np.ix_(idx, idx)], clip_negative), y[idx])


def printed_fiedler_accuracy(R):
    """Step 7 of Algorithm 1 as printed, (|P₁| + |P₂|)/N with P₁ = {e₂ < 0}, P₂ = {e₂ > 0}: it counts every
    node with a nonzero entry and so is 1 for almost every RDM. Kept only to show that."""
    e2 = fiedler_vector(laplacian(1.0 - _square(R)))[1]
    return float(((e2 < 0).sum() + (e2 > 0).sum()) / len(e2))


def bootstrap_ci(statistic, n, n_resamples=1000, confidence=0.95, n_tests=1, method="BCa", seed=0):
    """A bootstrap interval of ``statistic(idx)`` over stimuli resampled with replacement (``idx`` an int
    array of length n), by ``scipy.stats.bootstrap``. Bonferroni: the level is ``1 - (1 - confidence)/n_tests``.
    Returns ``(low, high, distribution)``. When every resample gives the same value BCa is undefined
    and the interval is that value."""
    if n_tests < 1 or not 0 < confidence < 1:
        raise ValueError("need n_tests >= 1 and 0 < confidence < 1")
    level = 1.0 - (1.0 - confidence) / n_tests
    with warnings.catch_warnings():  # a degenerate distribution (all resamples equal) is handled below
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", getattr(scipy.stats, "DegenerateDataWarning", RuntimeWarning))
        res = scipy.stats.bootstrap((np.arange(n),), lambda i: statistic(np.asarray(i, dtype=int)), vectorized=False,
                                    n_resamples=n_resamples, confidence_level=level, method=method,
                                    random_state=np.random.default_rng(seed))
    dist = np.asarray(res.bootstrap_distribution)
    low, high = res.confidence_interval
    if not (np.isfinite(low) and np.isfinite(high)):
        if np.ptp(dist) == 0:
            low = high = float(dist[0])
    return float(low), float(high), dist


def _resampled_upper(R, idx):
    i, j = np.triu_indices(len(idx), 1)
    keep = idx[i] != idx[j]  # pairs of a stimulus with its own copy carry no dissimilarity
    return R[idx[i[keep]], idx[j[keep]]]


def rdm_bootstrap_pvalue(R1, R2, n_resamples=1000, method="pearson", seed=0):
    """Correlation of two RDMs with a one-sided bootstrap p-value against 0: stimuli are resampled with
    replacement (pairs of copies of one stimulus are left out) and ``p = (1 + #{ρ* ≤ 0}) / (1 + B)``, so the
    smallest reachable p is ``1/(1 + B)``. Returns ``(ρ, p, distribution)``."""
    R1, R2 = _square(R1, "R1"), _square(R2, "R2")
    if R1.shape != R2.shape:
        raise ValueError(f"the RDMs must be of the same stimuli; got {R1.shape} and {R2.shape}")
    rng = np.random.default_rng(seed)
    m = R1.shape[0]
    dist = np.empty(n_resamples)
    for b in range(n_resamples):
        idx = rng.integers(0, m, m)
        a, c = _resampled_upper(R1, idx), _resampled_upper(R2, idx)
        if method == "spearman":
            a, c = scipy.stats.rankdata(a), scipy.stats.rankdata(c)
        dist[b] = np.corrcoef(a, c)[0, 1]
    return compare_rdms(R1, R2, method), float((1 + np.sum(dist <= 0)) / (1 + n_resamples)), dist
