"""The checkers of the set "Attacks that stay on the data manifold": plausible mistakes lose points,
right answers written differently do not."""

import numpy as np
import torch

from dyngeo.grading.on_manifold_attacks import (check_laplacian_spectrum, check_markov_matrix,
                                                check_nystrom_extend, check_on_manifold_step,
                                                check_projection_coefficients, check_tangent_projector)

from checking import accepts, rejects


def sqd(A, B):
    return ((A[:, None, :] - B[None, :, :]) ** 2).sum(-1)


# ----------------------------------------------------------------------------------- markov_matrix


def markov(X, eps, alpha):
    K = np.exp(-sqd(X, X) / eps**2)
    q = K.sum(1)
    Ka = K / np.outer(q**alpha, q**alpha)
    return Ka / Ka.sum(1, keepdims=True)


def test_markov_right_answers_pass():
    accepts(check_markov_matrix, markov)

    def torch_loops(X, eps, alpha):  # torch, cdist, a loop over rows, a list back
        Xt = torch.tensor(X)
        K = torch.exp(-torch.cdist(Xt, Xt) ** 2 / eps**2)
        q = K.sum(1)
        rows = []
        for i in range(len(X)):
            r = K[i] / (q[i] ** alpha * q**alpha)
            rows.append((r / r.sum()).tolist())
        return rows

    accepts(check_markov_matrix, torch_loops)


def test_markov_rejects_mistakes():
    rejects(check_markov_matrix, lambda X, e, a: markov(X, e, 0.0), "alpha is ignored")
    rejects(check_markov_matrix, lambda X, e, a: markov(X, np.sqrt(e), a), "eps must be squared")

    def unnormalised(X, eps, alpha):
        K = np.exp(-sqd(X, X) / eps**2)
        q = K.sum(1)
        return K / np.outer(q**alpha, q**alpha)

    rejects(check_markov_matrix, unnormalised, "row sums")

    def symmetric(X, eps, alpha):
        K = np.exp(-sqd(X, X) / eps**2)
        q = K.sum(1)
        Ka = K / np.outer(q**alpha, q**alpha)
        D = Ka.sum(1)
        return Ka / np.sqrt(np.outer(D, D))

    rejects(check_markov_matrix, symmetric, "symmetric")
    rejects(check_markov_matrix, lambda X, e, a: markov(X, e, a)[:-1], "shape")
    rejects(check_markov_matrix, lambda X, e, a: markov(X, e, a) * np.nan, "NaN")


# ------------------------------------------------------------------------------ laplacian_spectrum


def spectrum(X, eps, n, alpha=1.0, transform=lambda lam, eps: -4 * np.log(lam) / eps**2):
    K = np.exp(-sqd(X, X) / eps**2)
    q = K.sum(1)
    Ka = K / np.outer(q**alpha, q**alpha)
    D = Ka.sum(1)
    lam = np.linalg.eigvalsh(Ka / np.sqrt(np.outer(D, D)))[::-1][:n]
    return transform(lam, eps)


def test_spectrum_right_answers_pass():
    accepts(check_laplacian_spectrum, spectrum)

    def nonsymmetric(X, eps, n):  # eigenvalues of P itself, sorted by hand, in torch
        P = torch.tensor(markov(X, eps, 1.0))
        lam = torch.linalg.eigvals(P).real.sort(descending=True).values[:n]
        return (-4 * torch.log(lam) / eps**2).tolist()

    accepts(check_laplacian_spectrum, nonsymmetric)


def test_spectrum_rejects_mistakes():
    rejects(check_laplacian_spectrum, lambda X, e, n: spectrum(X, e, n, transform=lambda l, e: l), "eigenvalues of P")
    rejects(check_laplacian_spectrum, lambda X, e, n: spectrum(X, e, n)[::-1], "ascending")
    rejects(check_laplacian_spectrum, lambda X, e, n: spectrum(X, e, n, transform=lambda l, e: 4 * (1 - l) / e**2),
            "first-order")
    rejects(check_laplacian_spectrum, lambda X, e, n: spectrum(X, e, n, transform=lambda l, e: -np.log(l) / e**2),
            "factor 4")
    rejects(check_laplacian_spectrum, lambda X, e, n: spectrum(X, e, n, alpha=0.0), "alpha")


# ---------------------------------------------------------------------------------- nystrom_extend


def extend(X, phi, lam, Y, eps, alpha=1.0, divide=True, normalise=True):
    K = np.exp(-sqd(Y, X) / eps**2)
    q = np.exp(-sqd(X, X) / eps**2).sum(1)
    W = K / q[None, :] ** alpha
    P = W / W.sum(1, keepdims=True) if normalise else W
    return P @ phi / (lam if divide else 1)


def test_nystrom_right_answers_pass():
    accepts(check_nystrom_extend, extend)

    def with_qy(X, phi, lam, Y, eps):  # dividing by q(y) too, which cancels; torch
        X, Y, phi, lam = map(torch.tensor, (X, Y, phi, lam))
        K = torch.exp(-torch.cdist(Y, X) ** 2 / eps**2)
        q = torch.exp(-torch.cdist(X, X) ** 2 / eps**2).sum(1)
        W = K / (K.sum(1, keepdim=True) * q)
        return (W / W.sum(1, keepdim=True)) @ phi / lam

    accepts(check_nystrom_extend, with_qy)


def test_nystrom_rejects_mistakes():
    rejects(check_nystrom_extend, lambda X, p, l, Y, e: extend(X, p, l, Y, e, divide=False), "lambda")
    rejects(check_nystrom_extend, lambda X, p, l, Y, e: extend(X, p, l, Y, e, alpha=0.0), "alpha-normalised")
    rejects(check_nystrom_extend, lambda X, p, l, Y, e: extend(X, p, l, Y, e, normalise=False), "sum 1")
    rejects(check_nystrom_extend, lambda X, p, l, Y, e: extend(X, p, l, Y, e).T, "shape")


# ------------------------------------------------------------------------- projection_coefficients


def test_coefficients_right_answers_pass():
    accepts(check_projection_coefficients, lambda phi, D, X: phi.T @ np.diag(D) @ X)
    accepts(check_projection_coefficients,
            lambda phi, D, X: torch.einsum("nl,n,nd->ld", torch.tensor(phi), torch.tensor(D), torch.tensor(X)).float())


def test_coefficients_reject_mistakes():
    rejects(check_projection_coefficients, lambda phi, D, X: phi.T @ X, "phi^T D X, not phi^T X")
    rejects(check_projection_coefficients, lambda phi, D, X: phi.T @ (D[:, None] ** 2 * X), "D appears once")
    rejects(check_projection_coefficients, lambda phi, D, X: (phi.T @ (D[:, None] * X)).T, "shape")


# ------------------------------------------------------------------------------- tangent_projector


def test_projector_right_answers_pass():
    def svd(J, d):
        U = torch.linalg.svd(J).U[:, :d]
        return U @ U.T

    accepts(check_tangent_projector, svd)

    def eig_of_jjt(J, d):  # eigenvectors of J J^T, in NumPy
        w, V = np.linalg.eigh(J.numpy() @ J.numpy().T)
        Q = V[:, np.argsort(w)[::-1][:d]]
        return Q @ Q.T

    accepts(check_tangent_projector, eig_of_jjt)


def test_projector_rejects_mistakes():
    def right_vectors(J, d):
        V = torch.linalg.svd(J).Vh.T[:, :d]
        return V @ V.T

    rejects(check_tangent_projector, right_vectors, "right singular vectors")

    def qtq(J, d):
        U = torch.linalg.svd(J).U[:, :d]
        return U.T @ U

    rejects(check_tangent_projector, qtq, "shape")

    def one_too_many(J, d):
        U = torch.linalg.svd(J).U[:, : d + 1]
        return U @ U.T

    rejects(check_tangent_projector, one_too_many, "exactly d")


# -------------------------------------------------------------------------------- on_manifold_step


def step(x, grad, Q, project, a, tangent=True, normalise=True, back=True, sign=1.0):
    pg = torch.einsum("bdk,bk->bd", Q, torch.einsum("bdk,bd->bk", Q, grad)) if tangent else grad
    if normalise:
        pg = pg / pg.norm(dim=1, keepdim=True)
    new = x + sign * a * pg
    return project(new) if back else new


def test_step_right_answers_pass():
    accepts(check_on_manifold_step, step, seeds=(0, 1))

    def with_projector(x, grad, Q, project, a):  # an explicit projector matrix per point
        P = Q @ Q.transpose(1, 2)
        pg = (P @ grad[:, :, None])[:, :, 0]
        return project(x + a * pg / torch.linalg.vector_norm(pg, dim=1, keepdim=True))

    accepts(check_on_manifold_step, with_projector, seeds=(0, 1))


def test_step_rejects_mistakes():
    rejects(check_on_manifold_step, lambda *args: step(*args, tangent=False), "tangent space", seeds=(0, 1))
    rejects(check_on_manifold_step, lambda *args: step(*args, normalise=False), "normalise", seeds=(0, 1))
    rejects(check_on_manifold_step, lambda *args: step(*args, back=False), "map the stepped point back", seeds=(0, 1))
    rejects(check_on_manifold_step, lambda *args: step(*args, sign=-1.0), "ascends", seeds=(0, 1))
