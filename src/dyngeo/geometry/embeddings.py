"""Linear maps between the embedding spaces of different networks, and one adversarial detector for
all of them (Jamil, Liu, Blanchard, Kirby & Peterson 2023, *Leveraging linear mapping for
model-agnostic adversarial defense*).

* :func:`embed`: the penultimate (or any named layer's) embeddings of a batch, through forward hooks.
* :func:`fit_linear_map`, :func:`apply_map`: the map ``M_{A→B}`` of eqs. (1)–(2), least squares in
  closed form (minimum-norm when there are fewer samples than dimensions) or ridge.
* :func:`embedding_mse`: the mapping error of Sec. 3.4.1.
* :func:`cross_network_detection`: Algorithm 1 (a linear SVM trained once in the target space, a
  source network's clean and adversarial embeddings mapped into it, AUROC) and Sec. 5.4 (the target
  head's accuracy on mapped adversarial embeddings).
* :func:`fourier_features`: the magnitude / phase Fourier spectrum baseline of Sec. 6.

Rows are samples throughout: ``XA`` is ``[m, d_A]``, and a map ``M`` is ``[d_B, d_A]`` so that
``apply_map(M, XA) = XA @ M.T`` is ``[m, d_B]``. The map functions accept torch tensors (any device and
floating dtype, kept) or NumPy arrays (returned as NumPy).
"""

import numpy as np
import torch

__all__ = ["embed", "fit_linear_map", "apply_map", "embedding_mse", "split_indices", "fourier_features",
           "linear_svm", "cross_network_detection"]


# ------------------------------------------------------------------------------------------ embeddings


def _last_linear(model):
    name = None
    for n, m in model.named_modules():
        if isinstance(m, torch.nn.Linear):
            name = n
    if name is None:
        raise ValueError("layer=None takes the input of the model's last nn.Linear (its head), but the model "
                         "has no nn.Linear; name a layer instead")
    return name


@torch.no_grad()
def embed(model, X, layer=None, batch_size=None):
    """Embeddings ``[N, d]`` of the inputs ``X`` through forward hooks, flattened per sample.

    ``layer=None`` gives the penultimate embedding, the *input* of the model's last ``nn.Linear``
    (the classification head), as in the paper's ``f_A(x)``. A string names any sub-module (a key of
    ``model.named_modules()``); its *output* is returned. A list of names returns a dict name → embedding.
    ``batch_size`` splits ``X`` into chunks. The model's outputs are left untouched (the hooks return None).
    """
    names = [layer] if isinstance(layer, str) or layer is None else list(layer)
    modules = dict(model.named_modules())
    penultimate = [n for n in names if n is None]
    for n in names:
        if n is not None and n not in modules:
            raise ValueError(f"no layer named {n!r}; the model's layers are {[k for k in modules if k]}")
    store, hooks = {n: [] for n in names}, []
    try:
        if penultimate:
            head = modules[_last_linear(model)]
            hooks.append(head.register_forward_pre_hook(lambda mod, inp: store[None].append(inp[0].flatten(1))))
        for n in names:
            if n is not None:
                def hook(mod, inp, out, n=n):
                    if not isinstance(out, torch.Tensor):
                        raise ValueError(f"layer {n!r} returns {type(out).__name__}, not a tensor")
                    store[n].append(out.flatten(1))
                hooks.append(modules[n].register_forward_hook(hook))
        chunks = [X] if batch_size is None else torch.split(X, batch_size)
        for chunk in chunks:
            model(chunk)
    finally:
        for h in hooks:
            h.remove()
    out = {n: torch.cat(v) for n, v in store.items()}
    return out[names[0]] if isinstance(layer, str) or layer is None else out


# ------------------------------------------------------------------------------------------ linear maps


def _as_tensor(X, name):
    if isinstance(X, np.ndarray):
        return torch.from_numpy(np.asarray(X, dtype=np.float64)), True
    if isinstance(X, torch.Tensor):
        return (X if X.is_floating_point() else X.double()), False
    raise ValueError(f"{name} must be a torch.Tensor or a NumPy array; got {type(X).__name__}")


def fit_linear_map(XA, XB, bias=False, ridge=0.0):
    """The linear map ``M_{A→B}`` ``[d_B, d_A]`` of eqs. (1)–(2): ``argmin_M ||XA Mᵀ - XB||_F² + ridge ||M||_F²``.

    ``XA`` ``[m, d_A]`` and ``XB`` ``[m, d_B]`` hold the two networks' embeddings of the same ``m``
    inputs, one per row. The paper writes eq. (2) with an unsquared norm but calls it least squares;
    this is the squared (Frobenius) version, which has a closed form:

    * ``ridge = 0``: ``Mᵀ = pinv(XA) XB``, the least-squares solution, and among all solutions the one
      of smallest norm when ``m < d_A`` (then the fit is exact on the map samples);
    * ``ridge > 0``: ``Mᵀ = (XAᵀXA + ridge I)⁻¹ XAᵀ XB``, computed as ``XAᵀ (XA XAᵀ + ridge I)⁻¹ XB``
      when ``m < d_A`` (the same matrix, a smaller system).

    ``bias=True`` adds an unpenalised offset: returns ``(M, b)`` with ``b = mean(XB) - M mean(XA)``,
    the fit above on centred rows (for full-rank ``XA`` this is least squares with a column of ones).
    """
    A, numpy_in = _as_tensor(XA, "XA")
    B, _ = _as_tensor(XB, "XB")
    if A.dim() != 2 or B.dim() != 2:
        raise ValueError(f"XA and XB must be [m, d] matrices (samples in rows); got shapes {tuple(A.shape)} and "
                         f"{tuple(B.shape)}")
    if A.shape[0] != B.shape[0]:
        raise ValueError(f"XA and XB must hold the same samples (rows): {A.shape[0]} rows against {B.shape[0]}")
    if A.shape[0] == 0:
        raise ValueError("XA and XB have no rows")
    if not (ridge >= 0):
        raise ValueError(f"ridge must be non-negative; got {ridge}")
    dtype = torch.promote_types(A.dtype, B.dtype)
    A, B = A.to(dtype), B.to(device=A.device, dtype=dtype)
    if bias:
        muA, muB = A.mean(0), B.mean(0)
        A, B = A - muA, B - muB
    m, d = A.shape
    if ridge == 0:  # minimum-norm least squares: LAPACK's SVD-based gelsd on the CPU, the pseudo-inverse elsewhere
        Mt = torch.linalg.lstsq(A, B, driver="gelsd").solution if A.device.type == "cpu" else torch.linalg.pinv(A) @ B
    elif m >= d:
        Mt = torch.linalg.solve(A.T @ A + ridge * torch.eye(d, dtype=dtype, device=A.device), A.T @ B)
    else:
        Mt = A.T @ torch.linalg.solve(A @ A.T + ridge * torch.eye(m, dtype=dtype, device=A.device), B)
    M = Mt.T.contiguous()
    out = (M, muB - M @ muA) if bias else M
    if numpy_in:
        return tuple(o.numpy() for o in out) if bias else out.numpy()
    return out


def apply_map(M, X, b=None):
    """The mapped embeddings ``X Mᵀ (+ b)``, ``[m, d_B]`` for ``X`` ``[m, d_A]`` (eq. 1, rows as samples)."""
    if M.shape[-1] != X.shape[-1]:
        raise ValueError(f"the map is [d_B, d_A] = {tuple(M.shape)} but the embeddings have {X.shape[-1]} columns")
    out = X @ M.T
    return out if b is None else out + b


def embedding_mse(X_hat, X, reduction="mean"):
    """The mapping error of Sec. 3.4.1 between mapped embeddings ``X_hat`` and target embeddings ``X`` ``[m, d]``.

    ``reduction="sum"`` is the paper's wording: squared differences summed over a pair's ``d`` entries,
    averaged over pairs. ``"mean"`` (default) also averages over the entries, i.e. divides by ``d``: the
    scale of the paper's small CIFAR-10 values suggests this one, and it compares spaces of different widths.
    """
    if X_hat.shape != X.shape:
        raise ValueError(f"X_hat and X must have the same shape; got {tuple(X_hat.shape)} and {tuple(X.shape)}")
    sq = (X_hat - X) ** 2
    if reduction == "mean":
        return float(sq.mean())
    if reduction == "sum":
        return float(sq.sum(-1).mean())
    raise ValueError(f"reduction must be 'mean' or 'sum'; got {reduction!r}")


def split_indices(n, fractions=(1 / 3, 1 / 3, 1 / 3), seed=0):
    """A random partition of ``range(n)`` into the ``map``, ``svm`` and ``val`` splits of Sec. 4 (NumPy
    index arrays; the last split takes the rounding remainder when the fractions sum to 1)."""
    if len(fractions) != 3 or min(fractions) < 0 or sum(fractions) > 1 + 1e-9:
        raise ValueError(f"fractions must be three non-negative numbers summing to at most 1; got {fractions}")
    order = np.random.default_rng(seed).permutation(n)
    a = int(round(fractions[0] * n))
    b = a + int(round(fractions[1] * n))
    c = n if abs(sum(fractions) - 1) < 1e-9 else b + int(round(fractions[2] * n))
    return {"map": order[:a], "svm": order[a:b], "val": order[b:c]}


# ------------------------------------------------------------------------------------------ Fourier baseline


def fourier_features(X, kind="magnitude"):
    """The Fourier baseline of Sec. 6 (after Harder et al. 2021): the 1-D real FFT of each embedding
    (rows of ``X`` ``[N, d]``), its magnitude (MFS) or phase in ``[-π, π]`` (PFS), ``[N, d // 2 + 1]``.
    The magnitude does not change when an embedding's entries are shifted circularly."""
    if kind not in ("magnitude", "phase"):
        raise ValueError(f"kind must be 'magnitude' or 'phase'; got {kind!r}")
    if X.ndim != 2:
        raise ValueError(f"X must be [N, d] embeddings; got shape {tuple(X.shape)}")
    if isinstance(X, torch.Tensor):
        F = torch.fft.rfft(X, dim=1)
        return F.abs() if kind == "magnitude" else F.angle()
    F = np.fft.rfft(np.asarray(X), axis=1)
    return np.abs(F) if kind == "magnitude" else np.angle(F)


# ------------------------------------------------------------------------------------------ Algorithm 1


def _np(X):
    return X.detach().cpu().double().numpy() if isinstance(X, torch.Tensor) else np.asarray(X, dtype=np.float64)


def linear_svm(X, y, C=1.0, seed=0):
    """The detector of Sec. 3.4.2: a linear SVM (scikit-learn's ``LinearSVC``) separating clean (0) from
    adversarial (1) embeddings, after standardising the features with statistics of ``X`` (a fixed affine
    change of coordinates, so the decision function stays linear in the embedding)."""
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    return make_pipeline(StandardScaler(), LinearSVC(C=C, max_iter=20000, random_state=seed)).fit(_np(X), _np(y))


def cross_network_detection(target, source, splits, head=None, labels=None, fit_on="all", ridge=0.0, bias=False,
                            C=1.0, features=None, svm=None):
    """Algorithm 1 (cross-network adversarial mapping and detection) and the Sec. 5.4 accuracy.

    ``target`` and ``source`` are pairs ``(clean, adv)`` of embeddings ``[n, d_t]`` and ``[n, d_s]`` of the
    same ``n`` images (row ``i`` of every array comes from image ``i``; each network's adversarial image
    is crafted against that network). ``splits`` maps ``"map"``, ``"svm"``, ``"val"`` to index arrays
    (:func:`split_indices`); every split holds the clean and the adversarial embedding of its images.

    1. a linear SVM (:func:`linear_svm`) is trained on the target's ``svm`` split, clean = 0, adversarial = 1
       (or ``svm``, one already trained, is reused);
    2. ``M_{s→t}`` is fitted by :func:`fit_linear_map` on the ``map`` split: on clean + adversarial
       embeddings (``fit_on="all"``, Algorithm 1 and Table 4's caption) or on adversarial ones only
       (``fit_on="adversarial"``, as Sec. 5.3 says);
    3. the source's ``val`` embeddings are mapped, ``X'_val = M X^s_val``;
    4. returns a dict: ``mse`` (:func:`embedding_mse`, per entry, against the target's own ``val``
       embeddings), ``mse_adv`` (adversarial rows only, the quantity of Tables 2 and 4), ``auroc`` (the
       SVM's decision function on ``X'_val``, ``sklearn.metrics.roc_auc_score``), ``native_auroc`` (the same
       SVM on the target's own ``val`` embeddings), ``detection_accuracy`` and
       ``native_detection_accuracy`` (the SVM's hard decisions, the measure of the paper's MNIST
       paragraph), ``svm`` and ``map``; with ``head`` (the target's classification layer, a callable on
       embeddings) and ``labels`` (the images' classes),
       ``mapped_accuracy`` (the head on the mapped adversarial ``val`` embeddings) and ``native_accuracy``
       (the head on the target's own adversarial ``val`` embeddings).

    ``features`` (a callable, e.g. ``lambda X: fourier_features(X, "phase")``) transforms every embedding
    before all of this: the Sec. 6 baseline. Mapping a network onto itself gives back the native numbers.
    """
    from sklearn.metrics import roc_auc_score

    if fit_on not in ("all", "adversarial"):
        raise ValueError(f"fit_on must be 'all' (Algorithm 1) or 'adversarial' (Sec. 5.3); got {fit_on!r}")
    for key in ("map", "svm", "val"):
        if key not in splits:
            raise ValueError(f"splits must have 'map', 'svm' and 'val' index arrays; {key!r} is missing")
    (tc, ta), (sc, sa) = (_np(a) for a in target), (_np(a) for a in source)
    n = tc.shape[0]
    for what, a in (("target clean", tc), ("target adversarial", ta), ("source clean", sc), ("source adversarial", sa)):
        if a.ndim != 2 or a.shape[0] != n:
            raise ValueError(f"the {what} embeddings must be [n, d] with n = {n} (one row per image); got {a.shape}")
    if ta.shape != tc.shape or sa.shape != sc.shape:
        raise ValueError("a network's clean and adversarial embeddings must have the same shape")
    raw_ta = ta  # the target head reads raw embeddings, before any feature map
    if features is not None:
        tc, ta, sc, sa = (_np(features(a)) for a in (tc, ta, sc, sa))

    def both(c, a, idx):
        return np.concatenate([c[idx], a[idx]]), np.r_[np.zeros(len(idx)), np.ones(len(idx))]

    if svm is None:
        svm = linear_svm(*both(tc, ta, splits["svm"]), C=C)
    m = splits["map"]
    XS, XT = (sa[m], ta[m]) if fit_on == "adversarial" else (both(sc, sa, m)[0], both(tc, ta, m)[0])
    fitted = fit_linear_map(XS, XT, bias=bias, ridge=ridge)
    M, b = fitted if bias else (fitted, None)
    v = splits["val"]
    Xs_val, y_val = both(sc, sa, v)
    Xt_val, _ = both(tc, ta, v)
    mapped = apply_map(M, Xs_val, b)
    out = {"mse": embedding_mse(mapped, Xt_val), "mse_adv": embedding_mse(mapped[len(v):], Xt_val[len(v):]),
           "auroc": float(roc_auc_score(y_val, svm.decision_function(mapped))),
           "native_auroc": float(roc_auc_score(y_val, svm.decision_function(Xt_val))),
           "detection_accuracy": float((svm.predict(mapped) == y_val).mean()),
           "native_detection_accuracy": float((svm.predict(Xt_val) == y_val).mean()), "svm": svm, "map": (M, b)}
    if head is not None:
        if labels is None:
            raise ValueError("the head's accuracy needs the images' labels")
        if features is not None:
            raise ValueError("the head reads embeddings, not Fourier features: give head=None with features")
        y = _np(labels)[v]
        ref = next(head.parameters(), None) if isinstance(head, torch.nn.Module) else None
        ref = target[0] if ref is None else ref
        like = dict(dtype=ref.dtype, device=ref.device) if isinstance(ref, torch.Tensor) else dict(dtype=torch.float32)
        with torch.no_grad():
            pm = head(torch.as_tensor(mapped[len(v):], **like)).argmax(-1).cpu().numpy()
            pn = head(torch.as_tensor(raw_ta[v], **like)).argmax(-1).cpu().numpy()
        out["mapped_accuracy"], out["native_accuracy"] = float((pm == y).mean()), float((pn == y).mean())
    return out
