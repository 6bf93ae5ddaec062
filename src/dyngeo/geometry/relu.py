"""ReLU networks as polyhedral complexes (Liu, Caglar, Peterson & Kirby 2023, "Integrating geometries
of ReLU feedforward neural networks").

A ReLU MLP ``R^m -> R^n`` (eq. 1) is affine on each cell of a decomposition of its input space into
convex polyhedra. The cell of a point is named by its activation pattern, one bit per hidden ReLU
(eqs. 3-4); the pattern gives the cell's inequalities ``A x <= c`` (eq. 5) and the affine map the
network computes there. Linear programmes then find the facets of a cell (eq. 6), its neighbours (cross
a facet and read the pattern on the far side: usually one bit flips, several when neurons share the
wall), every cell meeting a box (Algorithm 1) and its inscribed ball (eqs. 7-8); a bisection walks a
segment one boundary at a time (Algorithm 2).

Convention (the paper's): bit ``s = 1`` iff the pre-activation is ``> 0``; sign ``s' = 1 - 2 s``;
``A_j = diag(s'_j) Ŵ_j``, ``c_j = -diag(s'_j) b̂_j``. The networks handled are ``nn.Sequential`` stacks
``Linear, ReLU, ..., Linear, ReLU, Linear``, or the list of their ``(W, b)`` pairs. Geometry runs in
float64 NumPy on the CPU (the LPs go to SciPy's HiGHS through ``scipy.optimize.linprog``); activation
patterns of batches are computed in PyTorch on the input's device.
"""

from dataclasses import dataclass, field

import numpy as np
import torch
from scipy import sparse
from scipy.optimize import linprog
from torch import nn

__all__ = [
    "mlp", "relu_layers", "activation_patterns", "hrep", "local_affine", "facets", "chebyshev_center",
    "neighbours", "enumerate_regions", "dual_edges", "Region", "bisection_walk", "hamming", "nearest_same_label",
    "region_polygon", "draw_regions",
]


# ----------------------------------------------------------------------------- the network as (W, b)


def mlp(sizes, seed=None):
    """A ReLU MLP ``sizes[0] -> sizes[1] -> ... -> sizes[-1]`` (eq. 1): ReLU after every hidden layer,
    none after the last. ``seed`` fixes PyTorch's default initialisation."""
    sizes = list(sizes)
    if len(sizes) < 2 or any(int(s) < 1 for s in sizes):
        raise ValueError(f"sizes must list at least two positive widths; got {sizes}")
    if seed is not None:
        torch.manual_seed(seed)
    layers = []
    for a, b in zip(sizes[:-2], sizes[1:-1]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*layers, nn.Linear(sizes[-2], sizes[-1]))


def relu_layers(model):
    """The ``(W_i, b_i)`` pairs of a ReLU MLP as float64 NumPy arrays, ``W_i`` of shape ``[h_i, h_{i-1}]``.

    ``model`` is an ``nn.Sequential`` of ``Linear`` and ``ReLU`` alternating and ending with a ``Linear``,
    or already a list of ``(W, b)`` pairs (arrays or tensors); the last pair is the output layer.
    """
    if isinstance(model, (list, tuple)):
        pairs = [(np.asarray(_numpy(W), dtype=np.float64), np.asarray(_numpy(b), dtype=np.float64)) for W, b in model]
    elif isinstance(model, nn.Sequential):
        mods = list(model)
        expected = ["Linear" if i % 2 == 0 else "ReLU" for i in range(len(mods))]
        found = [type(m).__name__ for m in mods]
        if len(mods) % 2 == 0 or found != expected:
            raise ValueError(f"expected nn.Sequential(Linear, ReLU, ..., Linear); got ({', '.join(found)})")
        pairs = [(_numpy(m.weight), _numpy(m.bias) if m.bias is not None else np.zeros(m.out_features))
                 for m in mods[::2]]
    else:
        raise TypeError(f"model must be an nn.Sequential ReLU MLP or a list of (W, b); got {type(model).__name__}")
    if not pairs:
        raise ValueError("the network has no layers")
    for i, (W, b) in enumerate(pairs):
        if W.ndim != 2 or b.shape != (W.shape[0],):
            raise ValueError(f"layer {i}: W must be [out, in] and b [out]; got {W.shape} and {b.shape}")
        if i and W.shape[1] != pairs[i - 1][0].shape[0]:
            raise ValueError(f"layer {i} expects {W.shape[1]} inputs but layer {i - 1} gives {pairs[i - 1][0].shape[0]}")
    return pairs


def _numpy(t):
    return t.detach().cpu().double().numpy() if isinstance(t, torch.Tensor) else np.asarray(t, dtype=np.float64)


def _layers(model):
    return model if _is_pairs(model) else relu_layers(model)


def _is_pairs(x):
    return isinstance(x, list) and x and all(isinstance(p, tuple) and isinstance(p[0], np.ndarray) for p in x)


def _hidden_sizes(layers):
    return [W.shape[0] for W, _ in layers[:-1]]


# ----------------------------------------------------------------------------- patterns, eqs. 3-5


def activation_patterns(model, X):
    """The bit vectors ``s(x)`` of a batch (eqs. 3-4): ``[N, h]`` booleans, ``h`` = number of hidden ReLUs.

    Bit ``(i, j)`` is 1 when neuron ``j`` of hidden layer ``i`` has pre-activation ``> 0`` at ``x``.
    Computed in float64 on the device of ``X`` (a tensor ``[N, m]`` or an array).
    """
    layers = _layers(model)
    X = torch.as_tensor(X)
    if X.dim() != 2 or X.shape[1] != layers[0][0].shape[1]:
        raise ValueError(f"X must have shape [N, {layers[0][0].shape[1]}]; got {tuple(X.shape)}")
    x = X.to(torch.float64)
    bits = []
    for W, b in layers[:-1]:
        z = x @ torch.as_tensor(W, device=x.device).T + torch.as_tensor(b, device=x.device)
        bits.append(z > 0)
        x = torch.relu(z)
    return torch.cat(bits, dim=1)


def _pattern_np(layers, x):
    bits = []
    for W, b in layers[:-1]:
        z = W @ x + b
        bits.append(z > 0)
        x = np.maximum(z, 0.0)
    return np.concatenate(bits)


def _split(layers, pattern):
    pattern = np.asarray(_numpy(pattern) if isinstance(pattern, torch.Tensor) else pattern).astype(bool).reshape(-1)
    sizes = _hidden_sizes(layers)
    if pattern.size != sum(sizes):
        raise ValueError(f"pattern must have {sum(sizes)} bits (one per hidden ReLU); got {pattern.size}")
    return np.split(pattern, np.cumsum(sizes)[:-1])


def _collapsed(layers, pattern):
    """Per hidden layer the affine pre-activation ``Ŵ_j x + b̂_j`` valid on the cell of ``pattern``."""
    bits = _split(layers, pattern)
    W_hat, b_hat = layers[0]
    out = [(W_hat, b_hat)]
    for (W, b), s in zip(layers[1:-1], bits[:-1]):
        W_hat, b_hat = W @ (s[:, None] * W_hat), W @ (s * b_hat) + b
        out.append((W_hat, b_hat))
    return out, bits


def hrep(model, pattern):
    """The cell of an activation pattern as ``A x <= c`` (eq. 5): ``A`` is ``[h, m]``, ``c`` is ``[h]``.

    Row ``k`` says that hidden ReLU ``k`` keeps its bit: ``Ŵ x + b̂ <= 0`` for an off neuron and
    ``-(Ŵ x + b̂) <= 0`` for an on one, with ``Ŵ_j, b̂_j`` from the recursion
    ``Ŵ_j = W_j diag(s_{j-1}) Ŵ_{j-1}``, ``b̂_j = W_j diag(s_{j-1}) b̂_{j-1} + b_j``.
    """
    layers = _layers(model)
    collapsed, bits = _collapsed(layers, pattern)
    sign = [1.0 - 2.0 * s for s in bits]
    A = np.concatenate([sg[:, None] * W for (W, _), sg in zip(collapsed, sign)])
    c = np.concatenate([-sg * b for (_, b), sg in zip(collapsed, sign)])
    return A, c


def local_affine(model, pattern):
    """The affine map ``G(x) = W_eff x + b_eff`` the network computes on the cell of ``pattern``
    (below eq. 5): ``W_eff = W_{L+1} diag(s_L) Ŵ_L``, ``b_eff = W_{L+1} diag(s_L) b̂_L + b_{L+1}``.
    ``W_eff`` is the network's Jacobian inside the cell."""
    layers = _layers(model)
    collapsed, bits = _collapsed(layers, pattern)
    (W_hat, b_hat), s = collapsed[-1], bits[-1]
    W, b = layers[-1]
    return W @ (s[:, None] * W_hat), W @ (s * b_hat) + b


# ----------------------------------------------------------------------------- linear programmes, eqs. 6-8


def _box(lower, upper, m):
    if lower is None and upper is None:
        return None
    if lower is None or upper is None:
        raise ValueError("give both lower and upper (or neither)")
    lo = np.broadcast_to(np.asarray(lower, dtype=np.float64), (m,)).copy()
    hi = np.broadcast_to(np.asarray(upper, dtype=np.float64), (m,)).copy()
    if np.any(lo >= hi):
        raise ValueError(f"the box is empty: need lower < upper in every coordinate; got {lo} and {hi}")
    return lo, hi


def _check_hrep(A, c):
    A, c = np.asarray(A, dtype=np.float64), np.asarray(c, dtype=np.float64)
    if A.ndim != 2 or c.shape != (A.shape[0],):
        raise ValueError(f"A must be [k, m] and c [k]; got {A.shape} and {c.shape}")
    return A, c


def _hyperplanes(A, c, merge_tol=1e-9):
    """The distinct walls of ``A x <= c``: rows scaled to unit normals, positive multiples of one
    another merged into one wall (two neurons sharing a hyperplane on the same side).

    Returns ``(An, cn, groups, vanishing, empty)``: ``An [q, m]``, ``cn [q]`` one row per wall,
    ``groups`` the list of original row indices behind each wall, ``vanishing`` the zero rows with
    ``c = 0`` (a neuron whose pre-activation is identically 0 on the cell: a dead neuron, or one fed
    only by off neurons), ``empty`` whether a zero row reads ``0 <= c < 0`` (no point has the pattern).
    """
    norms = np.linalg.norm(A, axis=1)
    scale = max(1.0, float(np.abs(A).max(initial=0.0)), float(np.abs(c).max(initial=0.0)))
    zero = norms <= 1e-12 * scale
    empty = bool(np.any(c[zero] < -1e-12 * scale))
    vanishing = np.flatnonzero(zero & (np.abs(c) <= 1e-12 * scale))
    live = np.flatnonzero(~zero)
    U = np.hstack([A[live], c[live, None]]) / norms[live, None]
    groups, taken = [], np.zeros(len(live), dtype=bool)
    for i in range(len(live)):
        if taken[i]:
            continue
        same = ~taken & (np.abs(U - U[i]).max(axis=1) <= merge_tol * (1 + np.abs(U[i, -1])))
        taken |= same
        groups.append(live[same])
    first = np.array([g[0] for g in groups], dtype=int)
    An = A[first] / norms[first, None]
    cn = c[first] / norms[first]
    return An, cn, groups, vanishing, empty


def facets(A, c, lower=None, upper=None, method="auto", tol=1e-9):
    """Indices of the rows of ``A x <= c`` that are facets of the polyhedron (its *active bits*), eq. 6.

    Rows that are positive multiples of one another (neurons sharing a wall) are merged first, so that
    each copy does not make the other look redundant; every row of a facet's group is reported. A wall
    is redundant when ``max a^T x`` subject to the other walls is ``<= c``. Each LP keeps its wall
    relaxed to ``a^T x <= c + 1``, which bounds it; a facet shows as an optimum ``> c``.
    An optional box ``lower <= x <= upper`` is added to every LP (its sides are never reported, nor is
    a wall lying on a side of the box). ``method="loop"`` solves one LP per wall; ``"stacked"`` solves
    the independent LPs as a single block-diagonal LP (one HiGHS call; much faster in low dimension);
    ``"auto"`` stacks when ``m <= 8``. The polyhedron must have an interior (see :func:`chebyshev_center`).
    """
    A, c = _check_hrep(A, c)
    m = A.shape[1]
    box = _box(lower, upper, m)
    An, cn, groups, _, _ = _hyperplanes(A, c)
    if method == "auto":
        method = "stacked" if m <= 8 else "loop"
    if method not in ("loop", "stacked"):
        raise ValueError(f"method must be 'auto', 'loop' or 'stacked'; got {method!r}")
    if not groups:
        return np.zeros(0, dtype=int)
    bounds = (None, None) if box is None else list(zip(*box))
    if method == "loop":
        best = np.empty(len(groups))
        for i in range(len(groups)):
            ci = cn.copy()
            ci[i] += 1.0
            best[i] = -_solve(-An[i], An, ci, bounds).fun
    else:
        q = len(groups)
        rhs = np.tile(cn, q)
        rhs[np.arange(q) * q + np.arange(q)] += 1.0
        big = sparse.block_diag([sparse.csr_matrix(An)] * q, format="csr")
        res = _solve(-An.reshape(-1), big, rhs, bounds if box is None else list(zip(np.tile(box[0], q), np.tile(box[1], q))))
        best = np.einsum("ij,ij->i", An, res.x.reshape(q, m))
    return _rows(groups, best > cn + tol)


def _rows(groups, keep):
    chosen = [g for g, k in zip(groups, keep) if k]
    return np.sort(np.concatenate(chosen)).astype(int) if chosen else np.zeros(0, dtype=int)


def _solve(cost, A_ub, b_ub, bounds):
    res = linprog(cost, A_ub=A_ub, b_ub=b_ub, bounds=bounds, method="highs")
    if res.status != 0:
        raise RuntimeError(f"linprog failed ({res.message}); is the polyhedron non-empty?")
    return res


def chebyshev_center(A, c, lower=None, upper=None):
    """Centre and radius of the largest ball inside ``{x : A x <= c}`` (and the box, if given), eqs. 7-8.

    Solves ``max r`` subject to ``a_i^T x_c + r ||a_i|| <= c_i`` with one call to HiGHS. Redundant rows
    do not change the answer, so ``A, c`` need not be minimal. The radius is free in sign: ``r <= 0``
    means the polyhedron has no interior (an empty cell, like the fourth XOR pattern). Returns
    ``(center [m] array, radius float)``; an unbounded polyhedron without a box raises ``ValueError``.
    """
    A, c = _check_hrep(A, c)
    m = A.shape[1]
    box = _box(lower, upper, m)
    if box is not None:
        A = np.vstack([A, np.eye(m), -np.eye(m)])
        c = np.concatenate([c, box[1], -box[0]])
    norms = np.linalg.norm(A, axis=1)
    zero = norms <= 1e-12
    if np.any(c[zero] < 0):
        return np.full(m, np.nan), -np.inf  # a row 0 <= c < 0: nothing satisfies it
    A, c, norms = A[~zero], c[~zero], norms[~zero]
    cost = np.zeros(m + 1)
    cost[0] = -1.0
    res = linprog(cost, A_ub=np.hstack([norms[:, None], A]), b_ub=c, bounds=[(None, None)] * (m + 1), method="highs")
    if res.status == 3:
        raise ValueError("the polyhedron is unbounded (it holds arbitrarily large balls): pass lower and upper")
    if res.status != 0:
        raise RuntimeError(f"linprog failed: {res.message}")
    return res.x[1:], float(res.x[0])


# ----------------------------------------------------------------------------- neighbours, Algorithm 1


@dataclass
class Region:
    """One cell of the decomposition met by the box: pattern, inequalities, affine map, size."""

    pattern: np.ndarray  # [h] bool, eq. 4
    A: np.ndarray  # [h, m], eq. 5
    c: np.ndarray  # [h]
    weight: np.ndarray  # [n, m]: the network's Jacobian on the cell
    bias: np.ndarray  # [n]
    center: np.ndarray  # [m]: Chebyshev centre of the cell within the box, eq. 8
    radius: float  # radius of the inscribed ball
    facets: np.ndarray  # indices of the active bits within the box, eq. 6
    neighbors: list = field(default_factory=list)  # indices of the cells sharing a facet


def _across(layers, pattern, normal, vanishing):
    """The pattern just across a facet: step from a point in the facet's relative interior along its
    outward ``normal`` by an infinitesimal ``t > 0`` and read every bit there.

    Near such a point a neuron whose pre-activation is not zero keeps its sign, so it keeps its bit.
    The neurons in ``vanishing`` (those whose wall is the facet's hyperplane, and those identically
    zero on the cell) are 0 at the point; along the step each grows like ``t`` times its directional
    derivative, computed layer by layer with the bits already read on the far side. The new bit is 1
    when that derivative is positive. Crossing a wall shared by several neurons flips several bits,
    and a neuron that passes an earlier one through flips with it: a single-bit flip would miss both.
    """
    bits = _split(layers, pattern)
    offsets = np.cumsum([0] + _hidden_sizes(layers))
    vanishing = np.asarray(vanishing, dtype=int)
    new, d = [], np.asarray(normal, dtype=np.float64)
    for k, ((W, _), s) in enumerate(zip(layers[:-1], bits)):
        dz = W @ d
        s = s.copy()
        idx = vanishing[(vanishing >= offsets[k]) & (vanishing < offsets[k + 1])] - offsets[k]
        if idx.size:
            noise = 1e-9 * (np.abs(W[idx]) @ np.abs(d)) + 1e-300
            s[idx] = dz[idx] > noise
        new.append(s)
        d = s * dz
    return np.concatenate(new)


def neighbours(model, pattern, lower=None, upper=None):
    """Patterns of the cells that share a facet with the cell of ``pattern`` (the dual graph, Sec. 2).

    Returns a list of ``(bit index, neighbour pattern)``, one per facet, the index being the first row
    of the facet's wall (several rows when neurons share it). The neighbour's pattern is read across
    the facet (see :func:`enumerate_regions`), so it may differ in more than that one bit. With a box,
    only facets inside the box count."""
    layers = _layers(model)
    pattern = np.asarray(_numpy(pattern)).astype(bool).reshape(-1)
    A, c = hrep(layers, pattern)
    box = (None, None) if lower is None and upper is None else _box(lower, upper, A.shape[1])
    An, cn, groups, vanishing, _ = _hyperplanes(A, c)
    act = set(facets(A, c, *box).tolist())
    return [(int(g[0]), _across(layers, pattern, An[i], np.concatenate([g, vanishing])))
            for i, g in enumerate(groups) if g[0] in act]


def enumerate_regions(model, lower, upper, start=None, max_regions=100_000, tol=1e-9):
    """Every cell of the network's decomposition that meets the box ``[lower, upper]`` (Algorithm 1).

    Breadth-first search over the dual graph from the cell of ``start`` (default: the box centre).
    For each cell: merge the rows of eq. 5 that describe the same wall (duplicated or positively
    scaled neurons, a layer-2 neuron copying a layer-1 one), find the walls that are facets inside the
    box (eq. 6) and the cell's inscribed ball (eqs. 7-8), then cross each facet and read the pattern
    on the far side (:func:`_across`) instead of flipping one bit, which is wrong when several neurons
    share the wall or when a neuron identically 0 on the cell turns on across it. A cell is kept when
    its inscribed ball in the box has radius ``> tol``, so slivers thinner than that are left out;
    walls lying on a side of the box are not crossed. Returns a list of :class:`Region` whose
    ``neighbors`` give the dual graph. Stops with an error past ``max_regions``.

    Exactness is tested on networks with duplicated and pass-through neurons, dead neurons and walls on
    the box, and in 2-D by the cells' areas adding up to the box's (``tests/test_relu_geometry.py``).
    """
    layers = _layers(model)
    m = layers[0][0].shape[1]
    lo, hi = _box(lower, upper, m)
    x0 = (lo + hi) / 2 if start is None else np.asarray(_numpy(start), dtype=np.float64).reshape(m)
    first = _start(layers, x0, lo, hi, tol)
    seen, queue, regions, links = {first.tobytes()}, [first], [], []
    while queue:
        pattern = queue.pop(0)
        A, c = hrep(layers, pattern)
        An, cn, groups, vanishing, empty = _hyperplanes(A, c)
        if empty:
            continue
        found = _cell_lps(An, cn, lo, hi, tol) if m <= 8 and groups else None
        if found is None:
            center, radius = chebyshev_center(A, c, lo, hi)
            act = np.flatnonzero([g[0] in set(facets(A, c, lo, hi, tol=tol).tolist()) for g in groups]) \
                if radius > tol else None
        else:
            center, radius, act = found
        if not radius > tol:
            continue  # the crossing led to a cell too thin to matter (or an empty one)
        W, b = local_affine(layers, pattern)
        regions.append(Region(pattern, A, c, W, b, center, radius, _rows(groups, np.isin(np.arange(len(groups)), act))))
        if len(regions) > max_regions:
            raise RuntimeError(f"more than {max_regions} regions; raise max_regions or shrink the box")
        across = []
        for i in act:
            other = _across(layers, pattern, An[i], np.concatenate([groups[i], vanishing]))
            key = other.tobytes()
            across.append(key)
            if key not in seen:
                seen.add(key)
                queue.append(other)
        links.append(across)
    index = {r.pattern.tobytes(): k for k, r in enumerate(regions)}
    for r, across in zip(regions, links):
        r.neighbors = sorted({index[key] for key in across if key in index})
    return regions


def _start(layers, x0, lo, hi, tol):
    """The pattern of a cell with interior near ``x0``: ``x0`` itself, or when it lies on a wall (the
    box centre often does in hand-made networks), points nudged off it, then random points of the box."""
    rng = np.random.default_rng(0)
    m = x0.size
    tries = [x0] + [x0 + 1e-7 * (hi - lo) * rng.standard_normal(m) for _ in range(8)] \
        + [lo + (hi - lo) * rng.random(m) for _ in range(200)]
    for x in tries:
        pattern = _pattern_np(layers, np.clip(x, lo, hi))
        if chebyshev_center(*hrep(layers, pattern), lo, hi)[1] > tol:
            return pattern
    raise RuntimeError("found no cell with interior near the start point; pass another start")


def _cell_lps(An, cn, lo, hi, tol):
    """Chebyshev centre (eq. 8) and facets (eq. 6) of one cell in the box from a single HiGHS call:
    the ``q + 1`` independent LPs over its ``q`` distinct unit-normal walls stacked block-diagonally.
    Returns ``(center, radius, indices of the walls that are facets)``; ``None`` when the call fails
    (the caller then solves them one by one); radius ``-inf`` when the cell is empty."""
    q, m = An.shape
    rhs = np.tile(cn, q)
    rhs[np.arange(q) * q + np.arange(q)] += 1.0
    eye = np.eye(m)
    cheb = np.vstack([np.hstack([np.ones((q, 1)), An]), np.hstack([np.ones((2 * m, 1)), np.vstack([eye, -eye])])])
    big = sparse.block_diag([sparse.csr_matrix(An)] * q + [sparse.csr_matrix(cheb)], format="csr")
    cost = np.concatenate([-An.reshape(-1), [-1.0], np.zeros(m)])
    bounds = list(zip(np.tile(lo, q), np.tile(hi, q))) + [(None, None)] * (m + 1)
    res = linprog(cost, A_ub=big, b_ub=np.concatenate([rhs, cn, hi, -lo]), bounds=bounds, method="highs")
    if res.status == 2:
        return np.full(m, np.nan), -np.inf, np.zeros(0, dtype=int)
    if res.status != 0:
        return None
    best = np.einsum("ij,ij->i", An, res.x[: q * m].reshape(q, m))
    return res.x[q * m + 1:], float(res.x[q * m]), np.flatnonzero(best > cn + tol)


def dual_edges(regions):
    """Edges ``(i, j)``, ``i < j``, of the dual graph: cells ``i`` and ``j`` share a facet."""
    return sorted({(min(i, j), max(i, j)) for i, r in enumerate(regions) for j in r.neighbors})


# ----------------------------------------------------------------------------- Hamming distance, bisection


def hamming(S1, S2=None):
    """Hamming distances between the rows of two batches of bit vectors: ``[N, M]`` int64 (Sec. 3.1).
    ``S2`` defaults to ``S1``."""
    S1 = torch.as_tensor(S1)
    S2 = S1 if S2 is None else torch.as_tensor(S2)
    if S1.dim() != 2 or S2.dim() != 2 or S1.shape[1] != S2.shape[1]:
        raise ValueError(f"need two batches [N, h] and [M, h] of bit vectors; got {tuple(S1.shape)} and {tuple(S2.shape)}")
    a, b = S1.to(torch.float64), S2.to(torch.float64)
    return (a @ (1 - b).T + (1 - a) @ b.T).round().to(torch.int64)


def nearest_same_label(query, ref, y_query, y_ref, metric, exclude_self=False, chunk=2048):
    """Fraction of query rows whose nearest row of ``ref`` (``metric`` "hamming" on bit vectors, or
    "euclidean") has the same label (Table 3); ``exclude_self`` when ``query`` is ``ref`` (a point is not its
    own neighbour). Computed ``chunk`` rows at a time: the full distance matrix of MNIST would need 29 GB."""
    if metric not in ("hamming", "euclidean"):
        raise ValueError(f"metric must be 'hamming' or 'euclidean'; got {metric!r}")
    ref = ref.double()  # once, not per chunk (MNIST's 60,000 reference rows)
    hits = 0
    for start in range(0, len(query), chunk):
        q = query[start:start + chunk]
        if metric == "hamming":
            D = hamming(q, ref).double()
        else:
            D = torch.cdist(q.double(), ref)
        if exclude_self:
            rows = torch.arange(len(q), device=D.device)
            D[rows, start + rows] = float("inf")
        hits += int((y_ref[D.argmin(1)] == y_query[start:start + chunk]).sum())
    return hits / len(query)


def bisection_walk(model, a, b, tol=1e-12, max_evals=1_000_000):
    """Points on the segment ``a -> b`` whose consecutive patterns differ in one bit (Algorithm 2).

    Returns ``(deltas, patterns)``: ``deltas`` increasing in (0, 1), one per boundary crossed, the
    sample ``a + delta (b - a)`` lying just past the boundary (within ``tol`` of it, in the new cell);
    ``patterns`` (``[len(deltas) + 2, h]``) are the cells visited, from ``a``'s to ``b``'s (fewer rows
    if ``a`` and ``b`` share a cell or are neighbours). Fixes to the paper: after each crossing the
    upper end of the search resets to 1; a found crossing is pinned down to ``tol`` (the paper keeps
    the first midpoint past it); when several boundaries meet the segment within ``tol`` of each other
    the jump is accepted as one step (it then differs in several bits). Like the paper's walk, it can
    miss a bent boundary that the segment crosses twice.
    """
    layers = _layers(model)
    a, b = (np.asarray(_numpy(v), dtype=np.float64).reshape(-1) for v in (a, b))
    if a.shape != b.shape or a.size != layers[0][0].shape[1]:
        raise ValueError(f"a and b must be points of R^{layers[0][0].shape[1]}; got shapes {a.shape} and {b.shape}")
    left, target = _pattern_np(layers, a), _pattern_np(layers, b)
    deltas, patterns = [], [left]
    lo, hi, evals = 0.0, 1.0, 0
    while np.count_nonzero(left != target) > 1:
        mid = (lo + hi) / 2
        s = _pattern_np(layers, a + mid * (b - a))
        d = np.count_nonzero(s != left)
        if d == 0:
            lo = mid
        elif d == 1:  # one boundary in (lo, mid]: pin it down to within tol, then step across
            while mid - lo > tol:
                q = (lo + mid) / 2
                if np.array_equal(_pattern_np(layers, a + q * (b - a)), left):
                    lo = q
                else:
                    mid = q
            deltas.append(mid)
            patterns.append(_pattern_np(layers, a + mid * (b - a)))
            left, lo, hi = patterns[-1], mid, 1.0
        else:
            hi = mid
        if hi - lo < tol and d > 1:  # coincident crossings: accept the multi-bit step
            s = _pattern_np(layers, a + hi * (b - a))
            deltas.append(hi)
            patterns.append(s)
            left, lo, hi = s, hi, 1.0
        evals += 1
        if evals > max_evals:
            raise RuntimeError("bisection did not finish; loosen tol")
    if np.any(target != patterns[-1]):
        patterns.append(target)
    return np.array(deltas), np.array(patterns)


# ----------------------------------------------------------------------------- 2-D pictures


def region_polygon(A, c, lower, upper):
    """Vertices ``[V, 2]``, counter-clockwise, of the 2-D polygon ``A x <= c`` clipped to the box,
    from ``scipy.spatial.HalfspaceIntersection`` seeded with the Chebyshev centre."""
    from scipy.spatial import HalfspaceIntersection

    A, c = _check_hrep(A, c)
    if A.shape[1] != 2:
        raise ValueError(f"region_polygon draws 2-D cells; A has {A.shape[1]} columns")
    lo, hi = _box(lower, upper, 2)
    center, radius = chebyshev_center(A, c, lo, hi)
    if not radius > 0:
        raise ValueError("the polygon is empty")
    keep = np.linalg.norm(A, axis=1) > 1e-12
    H = np.vstack([np.hstack([A[keep], -c[keep, None]]),
                   np.hstack([np.eye(2), -hi[:, None]]), np.hstack([-np.eye(2), lo[:, None]])])
    V = HalfspaceIntersection(H, center).intersections
    V = V[np.argsort(np.arctan2(*(V - V.mean(0)).T[::-1]))]
    keep = np.r_[True, np.linalg.norm(np.diff(V, axis=0), axis=1) > 1e-10]
    return V[keep]


def draw_regions(ax, regions, lower, upper, colors=None, cmap="tab20", edgecolor="k", linewidth=0.4, alpha=0.8):
    """Fill the cells of ``enumerate_regions`` on a matplotlib axis (one colour per cell, or ``colors``)."""
    import matplotlib.pyplot as plt
    from matplotlib.collections import PolyCollection

    polys = [region_polygon(r.A, r.c, lower, upper) for r in regions]
    if colors is None:
        colors = plt.get_cmap(cmap)(np.random.default_rng(0).permutation(len(regions)) % 20)
    ax.add_collection(PolyCollection(polys, facecolors=colors, edgecolors=edgecolor, linewidths=linewidth, alpha=alpha))
    lo, hi = _box(lower, upper, 2)
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    ax.set_aspect("equal")
    return polys
