"""Subspaces, Grassmannians and Schubert varieties of best fit (Karimov, Kirby & Peterson 2023, "An
algorithm for computing Schubert varieties of best fit with applications").

A set of ``l`` vectors in ``R^n`` is summarised by its span, a point of the Grassmannian ``Gr(l, n)``,
and represented by an ``n x l`` matrix ``X`` with orthonormal columns. Two such points are compared by
their principal angles ``0 <= θ_1 <= ... <= θ_m <= π/2`` (``m = min(l, k)``), whose cosines are the
singular values of ``XᵀY``. The paper's Schubert variety ``Ω_{c,k,l}(W) = {V ∈ Gr(l, n): dim(V ∩ W) >= c}``
collects the subspaces that meet a fixed ``k``-dimensional ``W`` in at least ``c`` dimensions; a point's
distance to it uses the ``c`` smallest principal angles (section 3.3). The Schubert variety of best fit
(SVBF) maximises the mean of ``cos² θ_ij`` (eq. 1) or ``cos θ_ij`` (eq. 2) over ``j <= c``; for ``c = 1``
this is eq. (3) (resp. eq. 4) with unit coordinate vectors ``b_i`` (and ``a_i``).

Two solvers: the paper's "abstract node" (``SVBFNode``, trained by Adam on the penalised loss of eq. 6)
and a majorise-minimise ascent (``svbf_mm``, not in the paper): the objective is a maximum of convex
functions of ``K``, so its linearisation at the current ``K`` lies below it, and the maximiser of that
linearisation over matrices with orthonormal columns, the polar factor of the gradient, can only raise
the objective. The three classifiers of section 5 are ``alg1_predict`` (Frobenius 1-NN on ``KᵀX_i``),
``alg2_fit``/``nearest_subspace_predict`` (one ``K`` per class, nearest by the smallest angle) and
``alg3_fit``/``alg3_predict`` (the coordinates ``b_i`` fed to a centroid classifier).

Shapes: a single basis is ``[n, l]``, a stack of ``r`` bases is ``[r, n, l]``. NumPy arrays are accepted
and turned into tensors (float64 by default); everything runs on the inputs' device.
"""

import math

import torch
from torch import nn

__all__ = [
    "orthonormal_basis", "principal_angles", "grassmann_distance", "schubert_distance", "in_schubert",
    "dim_orthogonal", "dim_grassmann", "dim_stiefel", "dim_flag", "flag_mean", "flag_median",
    "svbf_objective", "svbf_coordinates", "svbf_mm", "SVBFNode", "svbf_adam", "orthogonality_error",
    "pca_basis", "alg1_predict", "alg2_fit", "nearest_subspace_predict", "alg3_fit", "alg3_predict",
]


def _tensor(x, dtype=None):
    t = torch.as_tensor(x)
    if not (t.is_floating_point()):
        t = t.to(torch.float64)
    return t if dtype is None else t.to(dtype)


def _stack(Xs):
    """A stack ``[r, n, l]`` from a tensor, an array or a list of ``[n, l]`` bases."""
    if isinstance(Xs, (list, tuple)):
        Xs = torch.stack([_tensor(X) for X in Xs])
    Xs = _tensor(Xs)
    if Xs.dim() == 2:
        Xs = Xs.unsqueeze(0)
    if Xs.dim() != 3:
        raise ValueError(f"expected a stack of bases [r, n, l] (or one [n, l]); got shape {tuple(Xs.shape)}")
    return Xs


# ----------------------------------------------------------------------------- bases and angles


def orthonormal_basis(V, tol=None):
    """An orthonormal basis ``[..., n, rank]`` of the column space of ``V`` ``[..., n, l]``, from the SVD.

    Unlike QR it survives rank-deficient sets (two equal images): directions whose singular value is
    below ``tol`` (default ``max(n, l) * eps * σ_max``) are dropped. For a batch, every member must have
    the same rank, else a ``ValueError`` names it.
    """
    V = _tensor(V)
    if V.dim() < 2:
        raise ValueError(f"V must be a matrix [n, l] (or a batch of them); got shape {tuple(V.shape)}")
    U, S, _ = torch.linalg.svd(V, full_matrices=False)
    if tol is None:
        tol = max(V.shape[-2:]) * torch.finfo(V.dtype).eps * S[..., :1].clamp_min(1e-300)
    rank = (S > tol).sum(-1)
    if rank.numel() > 1 and not bool((rank == rank.flatten()[0]).all()):
        raise ValueError(f"the matrices of the batch have different ranks: {sorted(set(rank.flatten().tolist()))}")
    r = int(rank.flatten()[0])
    if r == 0:
        raise ValueError("V is zero: its column space has no basis")
    return U[..., :r]


def principal_angles(X, Y, orthonormalize=True):
    """The principal angles between ``span X`` and ``span Y``, in ascending order (section 3.3).

    ``X`` is ``[..., n, l]``, ``Y`` is ``[..., n, k]``; the result is ``[..., min(l, k)]`` in radians.
    ``cos θ_j`` are the singular values of ``XᵀY`` for orthonormal ``X`` and ``Y`` (pass
    ``orthonormalize=False`` when they already are). Angles below π/4 are taken from the sines (the
    singular values of ``Y - X XᵀY``), which are accurate where ``arccos`` of a cosine near 1 is not.
    Note that ``scipy.linalg.subspace_angles`` returns the same angles in *descending* order.
    """
    X, Y = _tensor(X), _tensor(Y)
    if X.dim() < 2 or Y.dim() < 2 or X.shape[-2] != Y.shape[-2]:
        raise ValueError(f"X and Y must be [..., n, l] and [..., n, k] with the same n; got {tuple(X.shape)}, {tuple(Y.shape)}")
    if orthonormalize:
        X, Y = orthonormal_basis(X), orthonormal_basis(Y)
    dtype = torch.promote_types(X.dtype, Y.dtype)
    X, Y = X.to(dtype), Y.to(dtype)
    m = min(X.shape[-1], Y.shape[-1])
    XtY = X.transpose(-1, -2) @ Y
    cos = torch.linalg.svdvals(XtY)[..., :m].clamp(-1, 1)  # descending cosines = ascending angles
    sin = torch.linalg.svdvals(Y - X @ XtY).flip(-1)[..., :m].clamp(-1, 1)  # ascending sines
    if Y.shape[-1] > X.shape[-1]:  # the sines of (I - XXᵀ)Y include k - l extra ones: use X's side
        sin = torch.linalg.svdvals(X - Y @ XtY.transpose(-1, -2)).flip(-1)[..., :m].clamp(-1, 1)
    return torch.where(cos > math.sqrt(0.5), torch.arcsin(sin), torch.arccos(cos))


def grassmann_distance(X, Y, kind="geodesic"):
    """Distance between two points of ``Gr(l, n)``: geodesic ``||Θ||_2`` or chordal ``||sin Θ||_2``
    (section 3.3). For spans of different dimensions it uses the ``min(l, k)`` angles."""
    theta = principal_angles(X, Y)
    if kind == "geodesic":
        return theta.norm(dim=-1)
    if kind == "chordal":
        return torch.sin(theta).norm(dim=-1)
    raise ValueError(f"kind must be 'geodesic' or 'chordal'; got {kind!r}")


def schubert_distance(V, W, c, kind="sin", p=2):
    """The closeness of ``span V`` (a point of ``Gr(l, n)``) to the Schubert variety ``Ω_{c,k,l}(span W)``:
    ``||sin Θ_c||_p`` (``kind="sin"``) or ``||Θ_c||_p`` (``kind="angle"``), with ``Θ_c`` the ``c``
    smallest principal angles between ``span V`` and ``span W`` (section 3.3). Zero iff
    ``dim(V ∩ W) >= c``. Needs ``1 <= c <= min(l, k)``.
    """
    theta = principal_angles(V, W)
    m = theta.shape[-1]
    if not (isinstance(c, int) and 1 <= c <= m):
        raise ValueError(f"c must be an integer with 1 <= c <= min(l, k) = {m}; got {c!r}")
    theta = theta[..., :c]
    if kind == "sin":
        theta = torch.sin(theta)
    elif kind != "angle":
        raise ValueError(f"kind must be 'sin' or 'angle'; got {kind!r}")
    return torch.linalg.vector_norm(theta, ord=p, dim=-1)


def in_schubert(V, W, c, tol=1e-8):
    """Whether ``dim(span V ∩ span W) >= c`` numerically: the ``c``-th smallest angle is below ``tol``."""
    return bool(principal_angles(V, W)[..., c - 1].max() < tol)


# ----------------------------------------------------------------------------- dimensions (section 2)


def _check_dims(n, *ls):
    for v in (n, *ls):
        if not isinstance(v, int) or v < 0:
            raise ValueError(f"dimensions must be non-negative integers; got {v!r}")


def dim_orthogonal(n):
    """``dim O(n) = n(n-1)/2``."""
    _check_dims(n)
    return n * (n - 1) // 2


def dim_grassmann(l, n):
    """``dim Gr(l, n) = l(n - l) = dim O(n) - dim O(l) - dim O(n - l)``."""
    _check_dims(n, l)
    if l > n:
        raise ValueError(f"need l <= n; got l={l}, n={n}")
    return l * (n - l)


def dim_stiefel(l, n):
    """``dim ST(l, n) = (n-1) + (n-2) + ... + (n-l)``, the orthonormal ``l``-frames of ``R^n``."""
    _check_dims(n, l)
    if l > n:
        raise ValueError(f"need l <= n; got l={l}, n={n}")
    return sum(n - j for j in range(1, l + 1))


def dim_flag(signature, n):
    """``dim FL(l_1, ..., l_m; n) = dim O(n) - Σ dim O(l_j - l_{j-1}) - dim O(n - l_m)`` for
    ``0 < l_1 < ... < l_m < n`` (``l_m = n`` is allowed and adds nothing)."""
    sig = list(signature)
    _check_dims(n, *sig)
    if not sig or any(a >= b for a, b in zip([0] + sig, sig)) or sig[-1] > n:
        raise ValueError(f"the signature must be strictly increasing in (0, n]; got {sig} with n={n}")
    blocks = [b - a for a, b in zip([0] + sig, sig + [n])]
    return dim_orthogonal(n) - sum(dim_orthogonal(b) for b in blocks)


# ----------------------------------------------------------------------------- means


def flag_mean(Xs, k, weights=None):
    """The flag mean (Marrinan et al. 2015): the top ``k`` eigenvectors of ``Σ w_i X_i X_iᵀ`` (``[n, k]``,
    in order, so its first ``j`` columns are the best ``j``-dimensional answer). It maximises eq. (1) with
    ``c = min(l, k)``, the sum of all squared cosines."""
    Xs = _stack(Xs)
    if not 1 <= k <= Xs.shape[1]:
        raise ValueError(f"need 1 <= k <= n = {Xs.shape[1]}; got {k}")
    if weights is not None:
        Xs = Xs * _tensor(weights, Xs.dtype).to(Xs.device).clamp_min(0).sqrt()[:, None, None]
    A = Xs.transpose(0, 1).reshape(Xs.shape[1], -1)  # [n, r*l]: the bases side by side
    U, _, _ = torch.linalg.svd(A, full_matrices=False)
    if U.shape[1] < k:
        raise ValueError(f"the bases span only {U.shape[1]} dimensions; cannot return k={k}")
    return U[:, :k]


def flag_median(Xs, k, iters=50, eps=1e-10):
    """The chordal flag median by FlagIRLS (Mankovich et al. 2022): repeated flag means with weights
    ``1 / max(d_c(X_i, Y), eps)``, which lowers ``Σ_i d_c(X_i, Y)`` (a sum of distances, hence robust to
    outlying subspaces, where the flag mean minimises a sum of squares). Needs ``k <= l``."""
    Xs = _stack(Xs)
    if k > Xs.shape[2]:
        raise ValueError(f"the chordal flag median here needs k <= l = {Xs.shape[2]}; got k={k}")
    Y = flag_mean(Xs, k)
    for _ in range(iters):
        d = torch.sin(principal_angles(Xs, Y.expand(Xs.shape[0], -1, -1), orthonormalize=False)).norm(dim=-1)
        Y = flag_mean(Xs, k, weights=1.0 / d.clamp_min(eps))
    return Y


# ----------------------------------------------------------------------------- the SVBF problem


def _objective_kind(objective):
    if objective not in ("cos2", "cos"):
        raise ValueError(f"objective must be 'cos2' (eqs. 1, 3) or 'cos' (eqs. 2, 4); got {objective!r}")


def svbf_objective(Xs, K, c=1, objective="cos2"):
    """The SVBF objective ``(1/(rc)) Σ_i Σ_{j<=c} cos² θ_ij`` (eq. 1) or with ``cos θ_ij`` (eq. 2),
    between the bases ``Xs`` ``[r, n, l]`` and ``span K``. ``K`` is orthonormalised first, so an Adam
    iterate that is only nearly orthonormal is judged by its span. Equals 1 for a perfect fit."""
    _objective_kind(objective)
    Xs = _stack(Xs)
    Q = orthonormal_basis(_tensor(K, Xs.dtype).to(Xs.device))
    m = min(Xs.shape[2], Q.shape[1])
    if not (isinstance(c, int) and 1 <= c <= m):
        raise ValueError(f"c must be an integer with 1 <= c <= min(l, k) = {m}; got {c!r}")
    cos = torch.linalg.svdvals(Xs.transpose(1, 2) @ Q)[:, :c]
    return float((cos**2 if objective == "cos2" else cos).mean())


def svbf_coordinates(Xs, K, c=1):
    """The coordinates of eq. (3)-(4) that are optimal for a fixed ``K``: ``b_i`` ``[r, k, c]`` (the top right
    singular vectors of ``X_iᵀK``), ``a_i`` ``[r, l, c]`` (the top left ones) and ``cos θ_i`` ``[r, c]``.
    ``K b_i`` is the direction of ``span K`` closest to ``span X_i`` (section 5.3). Signs are arbitrary:
    they are fixed so that the largest entry of each ``b_i`` column is positive."""
    Xs = _stack(Xs)
    K = _tensor(K, Xs.dtype).to(Xs.device)
    U, S, Vh = torch.linalg.svd(Xs.transpose(1, 2) @ K, full_matrices=False)
    A, B = U[..., :c], Vh.transpose(1, 2)[..., :c]
    idx = B.abs().argmax(dim=1, keepdim=True)
    sign = torch.sign(torch.gather(B, 1, idx))
    sign[sign == 0] = 1
    return B * sign, A * sign, S[:, :c]


def _polar(G):
    U, _, Vh = torch.linalg.svd(G, full_matrices=False)
    return U @ Vh


def _init_K(n, k, init, seed, dtype, device):
    if isinstance(init, torch.Tensor) or hasattr(init, "shape"):
        K0 = _tensor(init, dtype).to(device)
        if tuple(K0.shape) != (n, k):
            raise ValueError(f"the initial K must be [n, k] = [{n}, {k}]; got {tuple(K0.shape)}")
        return K0
    g = torch.Generator().manual_seed(seed)
    if init == "uniform":  # the paper's initialisation: entries uniform on [0, 1]
        return torch.rand(n, k, generator=g, dtype=dtype).to(device)
    if init == "gaussian":
        return torch.randn(n, k, generator=g, dtype=dtype).to(device)
    if init == "flag_mean":
        return None
    raise ValueError(f"init must be 'uniform', 'gaussian', 'flag_mean' or an [n, k] matrix; got {init!r}")


def svbf_mm(Xs, k, c=1, objective="cos2", iters=200, init="uniform", seed=0, tol=1e-10):
    """The Schubert variety of best fit by majorise-minimise ascent (a reference solver, not the paper's).

    Maximises eq. (1) (``objective="cos2"``) or eq. (2) (``"cos"``) over ``K`` ``[n, k]`` with ``KᵀK = I``.
    For ``c = 1`` these are eqs. (3) and (4). Each step fixes the optimal coordinates of the current ``K``
    (``B_i``, ``A_i``: top ``c`` right/left singular vectors of ``X_iᵀK``) and sets ``K`` to the polar
    factor of ``G = Σ_i X_i X_iᵀ K B_i B_iᵀ`` (cos²) or ``G = Σ_i X_i A_i B_iᵀ`` (cos), the maximiser over
    orthonormal ``K`` of the objective's linearisation. As the objective is convex in ``K`` (a maximum
    of convex functions), each step cannot lower it. Stops after ``iters`` steps or when a step gains
    less than ``tol``. Returns ``K`` and the objective before each step and at the end.
    """
    _objective_kind(objective)
    Xs = _stack(Xs)
    r, n, l = Xs.shape
    if not (isinstance(k, int) and 1 <= k <= n):
        raise ValueError(f"need an integer 1 <= k <= n = {n}; got {k!r}")
    if not (isinstance(c, int) and 1 <= c <= min(l, k)):
        raise ValueError(f"c must be an integer with 1 <= c <= min(l, k) = {min(l, k)}; got {c!r}")
    K0 = _init_K(n, k, init, seed, Xs.dtype, Xs.device)
    K = flag_mean(Xs, k) if K0 is None else orthonormal_basis(K0)
    if K.shape[1] != k:
        raise ValueError("the initial K is rank deficient")
    history = []
    for _ in range(iters):
        U, S, Vh = torch.linalg.svd(Xs.transpose(1, 2) @ K, full_matrices=False)  # X_iᵀK = U S Vᵀ
        A, B = U[..., :c], Vh.transpose(1, 2)[..., :c]
        if objective == "cos2":
            history.append(float((S[:, :c] ** 2).mean()))
            G = (Xs @ (Xs.transpose(1, 2) @ K @ B) @ B.transpose(1, 2)).sum(0)
        else:
            history.append(float(S[:, :c].mean()))
            G = (Xs @ A @ B.transpose(1, 2)).sum(0)
        K = _polar(G)
        if len(history) > 1 and abs(history[-1] - history[-2]) < tol:
            break
    history.append(svbf_objective(Xs, K, c, objective))
    return K, history


def orthogonality_error(K):
    """``||KᵀK - I||_F``, how far an Adam iterate is from having orthonormal columns."""
    K = _tensor(K)
    return float(torch.linalg.matrix_norm(K.T @ K - torch.eye(K.shape[1], dtype=K.dtype, device=K.device)))


class SVBFNode(nn.Module):
    """The SVBF "abstract node" of section 4.2 for ``c = 1``.

    Parameters: ``K`` ``[n, k]`` and raw coordinates ``[r, k]`` (and ``[r, l]`` for eq. 4), initialised
    elementwise uniform on [0, 1] as in the paper. The coordinates ``b_i`` (``a_i``) are the raw rows
    divided by their norms, so ``||b_i|| = 1`` holds by construction and eq. (5) loses its ``λ_i`` terms
    (eq. 6). ``forward(Xs)`` returns ``b_iᵀKᵀX_iX_iᵀKb_i`` (eq. 3, ``L³`` of the paper's three steps) or
    ``a_iᵀX_iᵀKb_i`` (eq. 4) for each of the ``r`` samples.
    """

    def __init__(self, n, k, r, l=None, objective="cos2", seed=0, dtype=torch.float64):
        super().__init__()
        _objective_kind(objective)
        if objective == "cos" and l is None:
            raise ValueError("objective='cos' (eq. 4) needs l, the dimension of the samples")
        g = torch.Generator().manual_seed(seed)
        self.objective = objective
        self.K = nn.Parameter(torch.rand(n, k, generator=g, dtype=dtype))
        self.b_raw = nn.Parameter(torch.rand(r, k, generator=g, dtype=dtype))
        self.a_raw = nn.Parameter(torch.rand(r, l, generator=g, dtype=dtype)) if objective == "cos" else None

    def coordinates(self):
        b = self.b_raw / self.b_raw.norm(dim=1, keepdim=True)
        a = None if self.a_raw is None else self.a_raw / self.a_raw.norm(dim=1, keepdim=True)
        return b, a

    def forward(self, Xs):
        b, a = self.coordinates()
        L1 = self.K.T @ Xs  # [r, k, l]: L¹_i = KᵀX_i
        if self.objective == "cos2":
            L2 = L1 @ L1.transpose(1, 2)  # L²_i = L¹_i L¹_iᵀ
            return torch.einsum("rk,rkj,rj->r", b, L2, b)  # L³_i = b_iᵀ L²_i b_i
        return torch.einsum("rl,rkl,rk->r", a, L1, b)

    def loss(self, Xs, lam0=1e4):
        """Eq. (6): ``-Σ_i L³_i + λ_0 ||KᵀK - I||_F²`` (the paper writes ``λ_0(KᵀK - I)``; a matrix
        penalty needs a scalar, and the squared Frobenius norm is the choice made here)."""
        I = torch.eye(self.K.shape[1], dtype=self.K.dtype, device=self.K.device)
        return -self.forward(Xs).sum() + lam0 * ((self.K.T @ self.K - I) ** 2).sum()


def svbf_adam(Xs, k, objective="cos2", iters=3000, lr=1e-3, lam0=1e4, seed=0, record_every=50):
    """Train ``SVBFNode`` with Adam (the paper's solver, section 4.2: lr 1e-3, betas (0.9, 0.999),
    λ_0 = 10^4, uniform [0, 1] initialisation; the paper runs 40,000 iterations).

    Returns ``(K, node, history)``; ``history`` holds, every ``record_every`` steps, the iteration, the
    objective of eq. (3)/(4) at the orthonormalised ``K`` and the orthogonality error ``||KᵀK - I||_F``.
    """
    Xs = _stack(Xs)
    r, n, l = Xs.shape
    node = SVBFNode(n, k, r, l, objective, seed, Xs.dtype).to(Xs.device)
    opt = torch.optim.Adam(node.parameters(), lr=lr, betas=(0.9, 0.999), eps=1e-8)
    history = {"iteration": [], "objective": [], "orthogonality": []}
    for t in range(iters + 1):
        if t % record_every == 0 or t == iters:
            with torch.no_grad():
                history["iteration"].append(t)
                history["objective"].append(svbf_objective(Xs, node.K.detach(), 1, objective))
                history["orthogonality"].append(orthogonality_error(node.K.detach()))
        if t == iters:
            break
        opt.zero_grad()
        node.loss(Xs, lam0).backward()
        opt.step()
    return node.K.detach().clone(), node, history


# ----------------------------------------------------------------------------- classifiers (section 5)


def pca_basis(V, k, center=True):
    """The top ``k`` principal directions ``[n, k]`` of the rows of ``V`` ``[N, n]`` (centred by default),
    the PCA baselines of Algorithms I and II."""
    V = _tensor(V)
    if center:
        V = V - V.mean(0, keepdim=True)
    _, _, Vh = torch.linalg.svd(V, full_matrices=False)
    if Vh.shape[0] < k:
        raise ValueError(f"only {Vh.shape[0]} directions available; cannot return k={k}")
    return Vh[:k].T


def alg1_predict(K, X_train, y_train, X_test):
    """Algorithm I: the coordinates ``Y_i = KᵀX_i`` and a 1-nearest-neighbour rule in the Frobenius norm.
    (Not invariant to the choice of basis ``X_i -> X_i Q``, which the paper blames for its low accuracy.)"""
    X_train, X_test = _stack(X_train), _stack(X_test)
    K = _tensor(K, X_train.dtype).to(X_train.device)
    if X_train.shape[2] != X_test.shape[2]:
        raise ValueError("Algorithm I compares k x l matrices: training and test sets need the same l")
    Ytr = (K.T @ X_train).flatten(1)
    Yte = (K.T @ X_test).flatten(1)
    nearest = torch.cdist(Yte, Ytr).argmin(dim=1)
    return torch.as_tensor(y_train, device=nearest.device)[nearest]


def _fit_svbf(X, k, solver, options):
    """The orthonormal SVBF ``K`` of the sets ``X`` (eq. 3, ``c = 1``) by ``svbf_mm`` or ``svbf_adam``."""
    if solver == "mm":
        return svbf_mm(X, k, **options)[0]
    if solver == "adam":
        return orthonormal_basis(svbf_adam(X, k, **options)[0])
    raise ValueError(f"solver must be 'mm' or 'adam'; got {solver!r}")


def alg2_fit(X_train, y_train, k, solver="mm", **options):
    """Algorithm II, step 1: one SVBF ``K_c`` per class (eq. 3, ``c = 1``), by ``svbf_mm`` or ``svbf_adam``.
    Returns ``(classes, [K_c])``."""
    X_train = _stack(X_train)
    y_train = torch.as_tensor(y_train)
    classes = torch.unique(y_train).tolist()
    Ks = []
    for cls in classes:
        Ks.append(_fit_svbf(X_train[(y_train == cls).to(X_train.device)], k, solver, options))
    return classes, Ks


def nearest_subspace_predict(classes, Ks, X_test):
    """Algorithm II, step 2 (and the class-wise PCA baseline): the class whose subspace makes the smallest
    first principal angle with each test set."""
    X_test = _stack(X_test)
    theta1 = torch.stack([principal_angles(X_test, orthonormal_basis(_tensor(K, X_test.dtype).to(X_test.device))
                                           .expand(X_test.shape[0], -1, -1), orthonormalize=False)[:, 0]
                          for K in Ks], dim=1)
    return torch.as_tensor(classes)[theta1.argmin(dim=1).cpu()]


def alg3_fit(X_train, y_train, k, solver="mm", temperature=0.1, iters=150, lr=0.1, seed=0, **options):
    """Algorithm III: an SVBF ``K`` for all training sets, the coordinates ``b_i`` of each set (eq. 3),
    and a centroid classifier ``softmax((b_iᵀW)² / T)`` trained by cross-entropy on them.

    The paper trains ``K``, ``b_i`` and the centroids ``W`` together but detaches ``K`` and ``b_i`` from
    the classification loss (eq. 7), so ``K`` and ``b_i`` follow eq. (3) alone; this function therefore
    solves eq. (3) first (``svbf_mm`` by default), takes the optimal ``b_i`` for that ``K`` and then fits
    ``W``. ``T`` is not given in the paper; the square makes the rule blind to the sign of ``b_i``.
    Returns a dict with ``K``, ``W``, ``classes``, ``T`` and the training ``b``.
    """
    X_train = _stack(X_train)
    y_train = torch.as_tensor(y_train)
    K = _fit_svbf(X_train, k, solver, options)
    b = svbf_coordinates(X_train, K)[0][..., 0]
    classes = torch.unique(y_train)
    target = torch.searchsorted(classes, y_train).to(b.device)
    g = torch.Generator().manual_seed(seed)
    W = torch.randn(k, len(classes), generator=g, dtype=b.dtype).to(b.device).requires_grad_(True)
    opt = torch.optim.Adam([W], lr=lr)
    for _ in range(iters):
        opt.zero_grad()
        logits = (b @ W) ** 2 / temperature
        nn.functional.cross_entropy(logits, target).backward()
        opt.step()
    return {"K": K, "W": W.detach(), "classes": classes, "T": temperature, "b": b}


def alg3_predict(model, X_test):
    """Algorithm III, steps 2-3: with ``K`` fixed, the optimal ``b_i`` of each test set (in closed form: the
    top right singular vector of ``X_iᵀK``, which the paper reaches by optimisation), then the centroids."""
    b = svbf_coordinates(X_test, model["K"])[0][..., 0]
    logits = (b @ model["W"].to(b.dtype)) ** 2 / model["T"]
    return model["classes"][logits.argmax(dim=1).cpu()]
