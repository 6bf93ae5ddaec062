"""The checkers of the set "Meta-learning the shape of a manifold": mistakes lose points, right answers
written differently pass."""

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torch.func import functional_call, grad

from dyngeo.grading.meta_learned_manifolds import (check_diagram_wasserstein, check_hole_batch, check_hole_mse,
                                                   check_knn_adjacency, check_mldg_update, check_spectral_distance)

from checking import accepts, rejects, solution_namespace

SOLUTION = solution_namespace("16-meta-learned-manifolds.md")
mldg_update, knn_adjacency, spectral_distance = (SOLUTION[k] for k in ("mldg_update", "knn_adjacency",
                                                                       "spectral_distance"))
hole_batch, diagram_wasserstein = SOLUTION["hole_batch"], SOLUTION["diagram_wasserstein"]
hole_mse = SOLUTION["hole_mse"]
BCE = torch.nn.functional.binary_cross_entropy


# ---------------------------------------------------------------------------------------- mldg_update


def _update(first_order=False, virtual=True, keep_train=True, return_grad=False):
    def answer(model, params, x_train, x_test, alpha, beta, gamma):
        theta = {k: v.detach().clone().requires_grad_(True) for k, v in params.items()}
        loss = lambda p, x: BCE(functional_call(model, p, (x,)), x)
        l_train = loss(theta, x_train)
        grads = torch.autograd.grad(l_train, list(theta.values()), create_graph=not first_order, retain_graph=True)
        a = alpha if virtual else 0.0
        moved = {k: v - a * g for (k, v), g in zip(theta.items(), grads)}
        objective = (l_train if keep_train else 0) + beta * loss(moved, x_test)
        meta = torch.autograd.grad(objective, list(theta.values()))
        if return_grad:
            return {k: g for k, g in zip(theta, meta)}
        return {k: (v - gamma * g).detach() for (k, v), g in zip(theta.items(), meta)}

    return answer


def test_mldg_update_right_answers_pass():
    accepts(check_mldg_update, mldg_update)

    def with_torch_func(model, params, x_train, x_test, alpha, beta, gamma):  # torch.func only, float64 kept
        loss = lambda p, x: BCE(functional_call(model, p, (x,)), x)

        def objective(p):
            g = grad(loss)(p, x_train)
            return loss(p, x_train) + beta * loss({k: p[k] - alpha * g[k] for k in p}, x_test)

        g = grad(objective)(params)
        return {k: params[k] - gamma * g[k] for k in params}

    accepts(check_mldg_update, with_torch_func)


def test_mldg_update_mistakes():
    rejects(check_mldg_update, _update(first_order=True), "create_graph=True")
    rejects(check_mldg_update, _update(virtual=False), "evaluated at theta")
    rejects(check_mldg_update, _update(keep_train=False), "L(S_train; theta) itself is missing")
    rejects(check_mldg_update, _update(return_grad=True), "returned the meta-gradient")

    def plain(model, params, x_train, x_test, alpha, beta, gamma):
        return _update()(model, params, x_train, x_test, 0.0, 0.0, gamma)

    rejects(check_mldg_update, plain, "plain step")
    rejects(check_mldg_update, lambda *a: [1.0, 2.0], "same keys")


# ---------------------------------------------------------------------------------------- knn_adjacency


def test_knn_adjacency_right_answers_pass():
    accepts(check_knn_adjacency, knn_adjacency)

    def with_torch(X, k):
        X = torch.as_tensor(X)
        D = torch.cdist(X, X) + torch.diag(torch.full((len(X),), float("inf"), dtype=X.dtype))
        nn_idx = D.topk(k, largest=False).indices
        A = torch.zeros(len(X), len(X))
        A.scatter_(1, nn_idx, 1.0)
        return A.T.int()

    accepts(check_knn_adjacency, with_torch)


def test_knn_adjacency_mistakes():
    rejects(check_knn_adjacency, lambda X, k: knn_adjacency(X, k).T, "transposed")

    def with_self(X, k):
        D = np.linalg.norm(X[:, None] - X[None], axis=-1)
        A = np.zeros_like(D)
        for j in range(len(X)):
            A[np.argsort(D[j])[:k], j] = 1
        return A

    rejects(check_knn_adjacency, with_self, "its own")
    rejects(check_knn_adjacency, lambda X, k: knn_adjacency(X, k)[:-1], "shape")

    def sklearn_graph(X, k):
        from sklearn.neighbors import kneighbors_graph
        return kneighbors_graph(X, k).toarray().T

    rejects(check_knn_adjacency, sklearn_graph, "switched off")


# ---------------------------------------------------------------------------------------- spectral_distance


def test_spectral_distance_right_answers_pass():
    accepts(check_spectral_distance, spectral_distance)

    def sorted_by_python(A1, A2):
        s = lambda A: sorted(np.linalg.eigvals(A).tolist(), key=lambda z: (-z.real, -z.imag))
        return sum(abs(a - b) ** 2 for a, b in zip(s(A1), s(A2))) ** 0.5

    accepts(check_spectral_distance, sorted_by_python)


def test_spectral_distance_mistakes():
    rejects(check_spectral_distance, lambda A1, A2: spectral_distance(A1, A2) ** 2, "square root")
    rejects(check_spectral_distance, lambda A1, A2: np.linalg.norm(np.linalg.eigvals(A1) - np.linalg.eigvals(A2)),
            "sort both spectra")

    def by_magnitude(A1, A2):
        s = lambda A: (lambda l: l[np.argsort(-np.abs(l))])(np.linalg.eigvals(A))
        return np.linalg.norm(s(A1) - s(A2))

    rejects(check_spectral_distance, by_magnitude, "magnitude")

    def real_only(A1, A2):
        return np.linalg.norm(np.sort(np.linalg.eigvals(A1).real) - np.sort(np.linalg.eigvals(A2).real))

    rejects(check_spectral_distance, real_only, "complex modulus")


# ---------------------------------------------------------------------------------------- hole_batch


def test_hole_batch_right_answers_pass():
    accepts(check_hole_batch, hole_batch)
    accepts(check_hole_batch, lambda X, a, s: torch.cdist(torch.as_tensor(X[a:a + 1]), torch.as_tensor(X))[0]
            .topk(s, largest=False).indices.flip(0).tolist())


def test_hole_batch_mistakes():
    def without_anchor(X, a, s):
        d = np.linalg.norm(X - X[a], axis=1)
        d[a] = np.inf
        return np.argsort(d)[:s]

    def one_too_many(X, a, s):
        d = np.linalg.norm(X - X[a], axis=1)
        return np.argsort(d)[: s + 1]

    def farthest(X, a, s):
        d = np.linalg.norm(X - X[a], axis=1)
        return np.argsort(-d)[:s]

    rejects(check_hole_batch, without_anchor, "anchor")
    rejects(check_hole_batch, one_too_many, "anchor was left out or counted twice")
    rejects(check_hole_batch, farthest, "farthest")


# ---------------------------------------------------------------------------------------- diagram_wasserstein


def _matching(D1, D2, p, ground=np.inf, diagonal=True, root=True):
    D1, D2 = np.reshape(D1, (-1, 2)), np.reshape(D2, (-1, 2))
    m1, m2 = len(D1), len(D2)
    norm = lambda v: np.linalg.norm(v, ord=ground, axis=-1)
    C = np.full((m1 + m2, m2 + m1), 0.0)
    C[:m1, :m2] = norm(D1[:, None] - D2[None]) ** p
    big = 1e12 if diagonal else 0.0
    half1 = norm(np.c_[D1[:, 1] - D1[:, 0], D1[:, 0] - D1[:, 1]] / 2) ** p  # distance to (m, m), m the midpoint
    half2 = norm(np.c_[D2[:, 1] - D2[:, 0], D2[:, 0] - D2[:, 1]] / 2) ** p
    C[:m1, m2:] = np.where(np.eye(m1, dtype=bool), half1[:, None] if diagonal else 1e12, big)
    C[m1:, :m2] = np.where(np.eye(m2, dtype=bool), half2[None] if diagonal else 1e12, big)
    if not diagonal:  # a plain assignment between the points, no diagonal
        if not m1 or not m2:
            return 0.0
        r, c = linear_sum_assignment(C[:m1, :m2])
        total = C[:m1, :m2][r, c].sum()
    else:
        r, c = linear_sum_assignment(C)
        total = C[r, c].sum()
    return float(total ** (1 / p) if root else total)


def test_diagram_wasserstein_right_answers_pass():
    accepts(check_diagram_wasserstein, diagram_wasserstein)
    accepts(check_diagram_wasserstein, _matching)

    def with_pot(D1, D2, p):
        import ot

        D1, D2 = np.reshape(D1, (-1, 2)), np.reshape(D2, (-1, 2))
        proj = lambda D: np.c_[D.mean(1), D.mean(1)]
        P = np.r_[D1, proj(D2)]
        Q = np.r_[D2, proj(D1)]
        C = ot.dist(P, Q, metric="chebyshev") ** p
        C[len(D1):, len(D2):] = 0
        if not len(C):
            return 0.0
        w = np.full(len(P), 1.0)
        return float(ot.emd2(w, w, C) ** (1 / p))

    accepts(check_diagram_wasserstein, with_pot)


def test_diagram_wasserstein_mistakes():
    rejects(check_diagram_wasserstein, lambda D1, D2, p: _matching(D1, D2, p, ground=2), "L∞")
    rejects(check_diagram_wasserstein, lambda D1, D2, p: _matching(D1, D2, p, root=False), "root")
    rejects(check_diagram_wasserstein, lambda D1, D2, p: _matching(D1, D2, 1.0), "W_1")

    def persim_borrowed(D1, D2, p):
        import persim
        return persim.wasserstein(D1, D2)

    rejects(check_diagram_wasserstein, persim_borrowed, "switched off")


def test_diagram_wasserstein_no_diagonal():
    passed_message = rejects(check_diagram_wasserstein, lambda D1, D2, p: _matching(D1, D2, p, diagonal=False))
    assert "diagonal" in passed_message or "W_p" in passed_message


# ---------------------------------------------------------------------------------------- hole_mse


def test_hole_mse_right_answers_pass():
    accepts(check_hole_mse, hole_mse)

    def numpy_version(model, X, hole):
        with torch.no_grad():
            R = model(X).numpy()
        E = (R - X.numpy()) ** 2
        mask = np.isin(np.arange(len(X)), hole.numpy())
        return [float(E[mask].mean()), float(E[~mask].mean())]

    accepts(check_hole_mse, numpy_version)


def test_hole_mse_mistakes():
    rejects(check_hole_mse, lambda m, X, h: hole_mse(m, X, h)[::-1], "swapped")

    def per_image_sum(model, X, hole):
        with torch.no_grad():
            err = ((model(X) - X) ** 2).sum(1)
        rest = torch.ones(len(X), dtype=torch.bool)
        rest[hole] = False
        return err[hole].mean().item(), err[rest].mean().item()

    rejects(check_hole_mse, per_image_sum, "summed over the pixels")
    rejects(check_hole_mse, lambda m, X, h: tuple(v ** 0.5 for v in hole_mse(m, X, h)), "root")
