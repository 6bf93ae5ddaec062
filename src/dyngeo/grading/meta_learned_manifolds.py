"""Checkers for the exercise set "Meta-learning the shape of a manifold" (``exercises/16-meta-learned-manifolds``).

The expected values come from :mod:`dyngeo.models.mrml`, :mod:`dyngeo.geometry.knn_graph` and
:mod:`dyngeo.geometry.topology` (gudhi), whose functions that answer an exercise are switched off
while the student's answers run.
"""

import numpy as np
import torch

from ..geometry import knn_graph, topology
from ..models import mrml
from . import GradingError, checker, judge

__all__ = ["check_mldg_update", "check_knn_adjacency", "check_spectral_distance", "check_hole_batch",
           "check_diagram_wasserstein", "check_hole_mse"]

M = "dyngeo.models.mrml."
K = "dyngeo.geometry.knn_graph."
NO_META = [M + "mldg_objective", M + "meta_gradient", M + "mldg_step", M + "fit_mrml"]
NO_KNN = [K + "knn_adjacency", K + "spectral_distance", "sklearn.neighbors.kneighbors_graph",
          "sklearn.neighbors._graph.kneighbors_graph"]
NO_SPECTRUM = [K + "adjacency_spectrum", K + "adjacency_spectral_distance", K + "spectral_distance"]
NO_WASSERSTEIN = ["dyngeo.geometry.topology.wasserstein", "dyngeo.geometry.topology.bottleneck",
                  "gudhi.wasserstein.wasserstein_distance", "persim.wasserstein", "persim.sliced_wasserstein",
                  "gudhi.hera.wasserstein_distance"]

# The autoencoder of the model-based exercises, as code the kernel runs (so no model object is sent)
# and as the same code run here; ``d`` and ``h`` come with the inputs.
MODEL = ("model = torch.nn.Sequential(torch.nn.Linear(d, h), torch.nn.Tanh(), torch.nn.Linear(h, 2), "
         "torch.nn.Linear(2, h), torch.nn.Tanh(), torch.nn.Linear(h, d), torch.nn.Sigmoid()).double()\n")


def _model(d, h):
    scope = {"torch": torch, "d": d, "h": h}
    exec(MODEL, scope)
    return scope["model"]


def _params(d, h, g):
    model = _model(d, h)
    return {k: 0.7 * torch.randn(v.shape, generator=g, dtype=torch.float64) for k, v in model.named_parameters()}


def _reference_update(d, h, params, x_train, x_test, alpha, beta, gamma, first_order=False):
    model = _model(d, h)
    live = {k: v.clone().requires_grad_(True) for k, v in params.items()}
    objective = mrml.mldg_objective(model, live, x_train, x_test, alpha, beta, first_order)[0]
    grads = torch.autograd.grad(objective, list(live.values()))
    return {k: (v - gamma * g).detach() for (k, v), g in zip(live.items(), grads)}


@checker(points=3, target="mldg_update", forbid=NO_META)
def check_mldg_update(ask, seed):
    """One MLDG meta-step (Algorithm 1, lines 5-7) with plain gradient descent, second order."""
    g = torch.Generator().manual_seed(seed)
    for d, h, alpha, beta in [(6, 4, 0.5, 1.0), (8, 5, 2.0, 0.5), (5, 3, 0.0, 0.3)]:
        params = _params(d, h, g)
        x_train, x_test = torch.rand(7, d, generator=g, dtype=torch.float64), torch.rand(5, d, generator=g,
                                                                                         dtype=torch.float64)
        gamma = 0.1
        case = f"an autoencoder {d}-{h}-2-{h}-{d}, alpha = {alpha}, beta = {beta}, gamma = {gamma}"
        got = ask(MODEL + "result = answer(model, {k: v.clone() for k, v in params.items()}, x_train.clone(), "
                  "x_test.clone(), alpha, beta, gamma)", case=case, params=params, x_train=x_train, x_test=x_test,
                  alpha=alpha, beta=beta, gamma=gamma, d=d, h=h)
        if not isinstance(got, dict) or set(got) != set(params):
            raise GradingError(f"for {case}: return a dict with the same keys as params ({sorted(params)}); got "
                               f"{judge.describe(got)}")
        want = _reference_update(d, h, params, x_train, x_test, alpha, beta, gamma)
        first = _reference_update(d, h, params, x_train, x_test, alpha, beta, gamma, first_order=True)
        plain = _reference_update(d, h, params, x_train, x_test, 0.0, 0.0, gamma)
        no_virtual = _reference_update(d, h, params, x_train, x_test, 0.0, beta, gamma)
        model = _model(d, h)
        live = {k: v.clone().requires_grad_(True) for k, v in params.items()}
        l_tr = mrml.reconstruction_loss(model, live, x_train)
        gr = torch.autograd.grad(l_tr, list(live.values()), create_graph=True)
        moved = {k: v - alpha * gg for (k, v), gg in zip(live.items(), gr)}
        only = torch.autograd.grad(beta * mrml.reconstruction_loss(model, moved, x_test), list(live.values()))
        test_only = {k: (params[k] - gamma * gg).detach() for k, gg in zip(params, only)}
        for k in params:
            hints = [(plain[k], "this is a plain step on L(S_train): add beta times the loss of the moved "
                      "parameters theta* = theta - alpha grad L(S_train) on S_test"),
                     (test_only[k], "the term L(S_train; theta) itself is missing from the meta-objective"),
                     ((params[k] - want[k]) / gamma, "you returned the meta-gradient; return the "
                      "parameters after the step theta - gamma * meta-gradient")]
            if alpha:
                hints += [(first[k], "the gradient does not flow through the virtual step: build it with "
                           "create_graph=True (second order), not from a detached gradient"),
                          (no_virtual[k], "L(S_test) is evaluated at theta, not at the moved theta*")]
            judge.close(got[k], want[k], f"the updated {k}", rtol=1e-7, atol=1e-10, case=case, hints=hints)


def _cloud(rng, n, dim):
    return rng.normal(size=(n, dim))


@checker(points=2, target="knn_adjacency", forbid=NO_KNN)
def check_knn_adjacency(ask, seed):
    """The binary kNN adjacency of the paper: A[i, j] = 1 when i is among the k nearest neighbours of j."""
    rng = np.random.default_rng(seed)
    for n, dim, k in [(12, 2, 1), (30, 3, 5), (40, 6, 20)]:
        X = _cloud(rng, n, dim)
        case = f"{n} random points in R^{dim}, k = {k}"
        got = judge.array(ask("answer(X.copy(), k)", case=case, X=X, k=k), "A", shape=(n, n))
        want = knn_graph.knn_adjacency(torch.from_numpy(X), k).numpy()
        D = np.linalg.norm(X[:, None] - X[None], axis=-1)
        with_self = np.zeros((n, n))
        order = np.argsort(D, axis=1)[:, :k]
        with_self[order, np.arange(n)[:, None]] = 1
        judge.close(got, want, "A", rtol=0, atol=1e-9, case=case,
                    hints=[(want.T, "A is transposed: column j marks the neighbours of j (A[i, j] = 1 when i is "
                            "one of the k nearest neighbours of j), so every column sums to k"),
                           (with_self, "each point counted itself as its own nearest neighbour: leave it out"),
                           (with_self.T, "transposed, and each point counted itself as its own neighbour")])


def _spectral_cases(rng):
    out = []
    for n, k in [(25, 3), (40, 5), (50, 20)]:
        X1 = _cloud(rng, n, 3)
        X2 = X1 + 0.5 * rng.normal(size=X1.shape)
        out.append((f"two {n}-point kNN graphs, k = {k}", knn_graph.knn_adjacency(X1, k).numpy(),
                    knn_graph.knn_adjacency(X2, k).numpy()))
    A = np.roll(np.eye(6), 1, axis=0)  # the directed 6-cycle: the sixth roots of unity
    out.append(("the directed 6-cycle against the 6-cycle with its conjugate order", A, A.T))
    return out


@checker(points=2, target="spectral_distance", forbid=NO_SPECTRUM)
def check_spectral_distance(ask, seed):
    """Eq. (3) with the eigenvalues sorted by decreasing real part, then decreasing imaginary part."""
    rng = np.random.default_rng(seed)
    for case, A1, A2 in _spectral_cases(rng):
        got = judge.number(ask("answer(A1.copy(), A2.copy())", case=case, A1=A1, A2=A2), "the distance")
        want = knn_graph.adjacency_spectral_distance(A1, A2)
        l1, l2 = np.linalg.eigvals(A1), np.linalg.eigvals(A2)
        by_abs = np.linalg.norm(l1[np.argsort(-np.abs(l1))] - l2[np.argsort(-np.abs(l2))])
        real_only = np.linalg.norm(np.sort(l1.real) - np.sort(l2.real))
        # eigenvalues of defective 0/1 matrices move by ~eps^(1/m) between LAPACK builds: compare to 1e-3
        judge.close_number(got, want, "S(G1, G2)", rtol=1e-3, atol=1e-3, case=case,
                           hints=[(want**2, "this is the sum of squares: take its square root"),
                                  (np.linalg.norm(l1 - l2), "the eigenvalues are paired in the order the solver "
                                   "returns them: sort both spectra first"),
                                  (by_abs, "sorted by magnitude; sort by decreasing real part, then decreasing "
                                   "imaginary part"),
                                  (real_only, "only the real parts were compared: |.| is the complex modulus")])
    A = knn_graph.knn_adjacency(_cloud(rng, 30, 2), 5).numpy()
    got = judge.number(ask("answer(A.copy(), A.copy())", case="a graph and itself", A=A), "the distance")
    if abs(got) > 1e-9:
        raise GradingError(f"the distance of a graph to itself must be 0; got {got:.3g}")


@checker(points=2, target="hole_batch", forbid=[M + "EpisodeSampler"])
def check_hole_batch(ask, seed):
    """Setting C's episodic-test batch: the anchor and its size − 1 nearest points, a whole neighbourhood."""
    rng = np.random.default_rng(seed)
    for n, dim, size in [(40, 2, 8), (80, 5, 20), (30, 3, 1)]:
        X = _cloud(rng, n, dim)
        anchor = int(rng.integers(n))
        case = f"{n} points in R^{dim}, anchor {anchor}, size {size}"
        got = judge.array(ask("answer(X.copy(), anchor, size)", case=case, X=X, anchor=anchor, size=size),
                          "the batch", kind="int").reshape(-1)
        d = np.linalg.norm(X - X[anchor], axis=1)
        d[anchor] = -1
        order = np.argsort(d, kind="stable")
        want = set(order[:size].tolist())
        if len(got) != size:
            cause = (". Likely cause: the anchor was left out or counted twice: the batch is the anchor and its "
                     "size - 1 nearest points") if len(got) in (size - 1, size + 1) else ""
            raise GradingError(f"for {case}: the batch must hold {size} indices; got {len(got)}{cause}")
        if len(set(got.tolist())) != size:
            raise GradingError(f"for {case}: the batch repeats an index")
        if set(got.tolist()) != want:
            cause = ""
            far = np.argsort(-d, kind="stable")
            if set(got.tolist()) in (set(far[:size].tolist()), set([anchor] + far[: size - 1].tolist())):
                cause = ". Likely cause: the farthest points were taken; take the nearest"
            elif anchor not in got:
                cause = ". Likely cause: the anchor itself belongs to the batch"
            raise GradingError(f"for {case}: expected the indices {sorted(want)}, got {sorted(got.tolist())}{cause}")


def _diagram_cases(rng):
    out = []
    for p in (1.0, 2.0):
        X = rng.normal(size=(40, 2))
        Y = X + 0.15 * rng.normal(size=X.shape)
        dx, dy = topology.diagrams(X, 1), topology.diagrams(Y, 1)
        out.append((f"the H1 diagrams of a cloud and of a noisy copy, p = {p:g}", topology.finite(dx[1]),
                    topology.finite(dy[1]), p))
        out.append((f"the H0 diagrams of the same clouds, p = {p:g}", topology.finite(dx[0]), topology.finite(dy[0]),
                    p))
    b = rng.uniform(0, 1, size=(5, 1))
    D1 = np.c_[b, b + rng.uniform(0.2, 1, size=(5, 1))]
    b = rng.uniform(0, 1, size=(3, 1))
    D2 = np.c_[b, b + rng.uniform(0.2, 1, size=(3, 1))]
    out.append(("two small diagrams of 5 and 3 points, p = 2", D1, D2, 2.0))
    out.append(("a diagram and an empty one, p = 2", D1, np.zeros((0, 2)), 2.0))
    return out


def _no_diagonal(D1, D2, p):
    from scipy.optimize import linear_sum_assignment

    if len(D1) == 0 or len(D2) == 0:
        return None
    C = np.abs(D1[:, None, :] - D2[None, :, :]).max(-1) ** p
    r, c = linear_sum_assignment(C)
    return C[r, c].sum() ** (1 / p)


@checker(points=3, target="diagram_wasserstein", forbid=NO_WASSERSTEIN)
def check_diagram_wasserstein(ask, seed):
    """Eq. (2): the p-Wasserstein distance between diagrams with the L∞ ground metric and the diagonal."""
    from gudhi.wasserstein import wasserstein_distance

    rng = np.random.default_rng(seed)
    for case, D1, D2, p in _diagram_cases(rng):
        got = judge.number(ask("answer(D1.copy(), D2.copy(), p)", case=case, D1=D1, D2=D2, p=p), "W_p")
        want = topology.wasserstein(D1, D2, p=p)
        hints = [(float(wasserstein_distance(D1, D2, order=p, internal_p=2.0)), "the ground metric is the L∞ norm "
                  "max(|b - b'|, |d - d'|) (eq. 2), not the Euclidean one"),
                 (want**p, "the p-th root is missing")]
        alt = _no_diagonal(D1, D2, p)
        if alt is not None and len(D1) != len(D2):
            hints.append((alt, "points can also be matched to the diagonal, at cost ((d - b) / 2)^p each"))
        if p == 2.0:
            hints.append((topology.wasserstein(D1, D2, p=1.0), "this is W_1; use the order p"))
        judge.close_number(got, want, "W_p", rtol=1e-6, atol=1e-9, case=case, hints=hints)
    D = topology.finite(topology.diagrams(rng.normal(size=(30, 2)), 1)[1])
    got = judge.number(ask("answer(D.copy(), D.copy(), 2.0)", case="a diagram and itself", D=D), "W_2")
    if abs(got) > 1e-9:
        raise GradingError(f"W_2 of a diagram and itself must be 0; got {got:.3g}")


@checker(points=1, target="hole_mse")
def check_hole_mse(ask, seed):
    """The reconstruction MSE per pixel on the held-out rows and on the others."""
    g = torch.Generator().manual_seed(seed)
    d, h = 9, 4
    params = _params(d, h, g)
    X = torch.rand(30, d, generator=g, dtype=torch.float64)
    hole = torch.randperm(30, generator=g)[:6]
    got = judge.sequence(ask(MODEL + "model.load_state_dict(params)\nresult = answer(model, X.clone(), hole.clone())",
                             case="a random autoencoder on 30 points", params=params, X=X, hole=hole, d=d, h=h),
                         "hole_mse's (on the hole, elsewhere)", 2)
    model = _model(d, h)
    model.load_state_dict(params)
    with torch.no_grad():
        err = (model(X) - X) ** 2
    rest = torch.ones(30, dtype=torch.bool)
    rest[hole] = False
    want = (err[hole].mean().item(), err[rest].mean().item())
    for value, w, other, name in [(got[0], want[0], want[1], "the MSE on the hole"),
                                  (got[1], want[1], want[0], "the MSE elsewhere")]:
        judge.close_number(value, w, name, rtol=1e-6, atol=1e-10,
                           hints=[(other, "the hole and the rest are swapped"),
                                  (w * d, "the squared error is summed over the pixels; average over pixels too"),
                                  (w ** 0.5, "this is the root of the mean squared error")])
