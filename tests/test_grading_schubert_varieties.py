"""The checkers of the set "Schubert varieties of best fit": mistakes lose points, right answers written differently pass."""

import jupytext
import numpy as np
import scipy.linalg as sl
import torch

from dyngeo.grading.schubert_varieties import (check_chordal_distance, check_fit_one_column, check_manifold_dimension,
                                               check_mm_step, check_principal_angles, check_schubert_distance)

from checking import ROOT, accepts, rejects

# The solutions of the set, run once: the right answers every test starts from.
SOLUTION = {}
for cell in jupytext.read(ROOT / "solutions" / "08-schubert-varieties.md").cells:
    if cell.cell_type == "code" and "check_" not in cell.source and "google.colab" not in cell.source:
        exec(cell.source, SOLUTION)
principal_angles, manifold_dimension = SOLUTION["principal_angles"], SOLUTION["manifold_dimension"]
chordal_distance, schubert_distance = SOLUTION["chordal_distance"], SOLUTION["schubert_distance"]
fit_one_column = SOLUTION["fit_one_column"]


def _orth(X):
    return np.linalg.qr(X)[0]


# ---------------------------------------------------------------------------------------- principal_angles


def test_principal_angles_right_answers_pass():
    accepts(check_principal_angles, principal_angles)

    def with_torch(X, Y):  # torch, SVD-based bases, a list of floats: all fine
        Qx = torch.linalg.svd(torch.as_tensor(X), full_matrices=False)[0]
        Qy = torch.linalg.svd(torch.as_tensor(Y), full_matrices=False)[0]
        return torch.arccos(torch.linalg.svdvals(Qx.T @ Qy).clamp(-1, 1)).tolist()

    def with_orth(X, Y):
        return np.sort(np.arccos(np.clip(np.linalg.svd(sl.orth(X).T @ sl.orth(Y), compute_uv=False), -1, 1)))

    accepts(check_principal_angles, with_torch)
    accepts(check_principal_angles, with_orth)


def test_principal_angles_mistakes():
    def descending(X, Y):
        return principal_angles(X, Y)[::-1]

    def cosines(X, Y):
        return np.cos(principal_angles(X, Y))

    def degrees(X, Y):
        return np.degrees(principal_angles(X, Y))

    def not_orthonormal(X, Y):
        s = np.linalg.svd(X.T @ Y, compute_uv=False)
        return np.arccos(np.clip(s, -1, 1))

    def nan(X, Y):
        return principal_angles(X, Y) * np.nan

    rejects(check_principal_angles, descending, "descending")
    rejects(check_principal_angles, cosines, "cosines")
    rejects(check_principal_angles, degrees, "degrees")
    rejects(check_principal_angles, not_orthonormal, "orthonormalised")
    rejects(check_principal_angles, nan, "NaN")
    rejects(check_principal_angles, lambda X, Y: np.sort(sl.subspace_angles(X, Y)), "switched off")

    def scalar(X, Y):  # only the first angle
        return principal_angles(X, Y)[0]

    rejects(check_principal_angles, scalar, "shape")


# ---------------------------------------------------------------------------------------- manifold_dimension


def test_manifold_dimension_right_answers_pass():
    accepts(check_manifold_dimension, manifold_dimension)

    def by_counting(kind, l, n):  # entries minus constraints, and a flag as a chain of Grassmannians; floats
        if kind == "grassmann":
            return float(n * l - l * l)
        if kind == "stiefel":
            return float(n * l - l * (l + 1) / 2)
        total, previous = 0, 0
        for step in list(l):  # choose V_j inside the complement of V_{j-1}: Gr(l_j - l_{j-1}, n - l_{j-1})
            total += (step - previous) * (n - step)
            previous = step
        return float(total)

    accepts(check_manifold_dimension, by_counting)


def test_manifold_dimension_mistakes():
    def grassmann_ln(kind, l, n):
        return l * n if kind == "grassmann" else manifold_dimension(kind, l, n)

    def stiefel_ln(kind, l, n):
        return l * n if kind == "stiefel" else manifold_dimension(kind, l, n)

    def stiefel_as_grassmann(kind, l, n):
        return l * (n - l) if kind == "stiefel" else manifold_dimension(kind, l, n)

    def flag_blocks(kind, l, n):  # subtracts O(l_i) instead of the steps
        if kind != "flag":
            return manifold_dimension(kind, l, n)
        dim_o = lambda m: m * (m - 1) // 2  # noqa: E731
        return dim_o(n) - sum(dim_o(v) for v in l) - dim_o(n - l[-1])

    def flag_no_last(kind, l, n):
        if kind != "flag":
            return manifold_dimension(kind, l, n)
        dim_o = lambda m: m * (m - 1) // 2  # noqa: E731
        return dim_o(n) - sum(dim_o(s) for s in np.diff([0, *l]))

    rejects(check_manifold_dimension, grassmann_ln, "l(n - l)")
    rejects(check_manifold_dimension, stiefel_ln, "l(l+1)/2")
    rejects(check_manifold_dimension, stiefel_as_grassmann, "Grassmannian")
    rejects(check_manifold_dimension, flag_blocks, "steps")
    rejects(check_manifold_dimension, flag_no_last, "last block")
    rejects(check_manifold_dimension, lambda kind, l, n: manifold_dimension(kind, l, n) + 0.5, "whole number")
    rejects(check_manifold_dimension, lambda kind, l, n: str(manifold_dimension(kind, l, n)), "number")


# ---------------------------------------------------------------------------------------- chordal_distance


def test_chordal_distance_right_answers_pass():
    accepts(check_chordal_distance, chordal_distance)

    def projector_form(X, Y):  # d_c² = l - ||QxᵀQy||_F², as a one-element tensor
        Qx, Qy = _orth(X), _orth(Y)
        return torch.tensor([np.sqrt(max(X.shape[1] - np.linalg.norm(Qx.T @ Qy) ** 2, 0.0))])

    def projector_difference(X, Y):  # ||P_X - P_Y||_F / sqrt(2)
        Qx, Qy = _orth(X), _orth(Y)
        return np.linalg.norm(Qx @ Qx.T - Qy @ Qy.T) / np.sqrt(2)

    accepts(check_chordal_distance, projector_form)
    accepts(check_chordal_distance, projector_difference)


def test_chordal_distance_mistakes():
    rejects(check_chordal_distance, lambda X, Y: np.linalg.norm(principal_angles(X, Y)), "geodesic")
    rejects(check_chordal_distance, lambda X, Y: np.sum(np.sin(principal_angles(X, Y)) ** 2), "square root")
    rejects(check_chordal_distance, lambda X, Y: np.sum(np.sin(principal_angles(X, Y))), "sum of the sines")
    rejects(check_chordal_distance, lambda X, Y: np.linalg.norm(_orth(X) - _orth(Y)), "bases")

    def not_orthonormal(X, Y):
        s = np.linalg.svd(X.T @ Y, compute_uv=False)
        return np.linalg.norm(np.sin(np.arccos(np.clip(s, -1, 1))))

    rejects(check_chordal_distance, not_orthonormal, "orthonormalised")
    rejects(check_chordal_distance, lambda X, Y: float("nan"), "NaN")


# ---------------------------------------------------------------------------------------- schubert_distance


def test_schubert_distance_right_answers_pass():
    accepts(check_schubert_distance, schubert_distance)

    def via_cosines(V, W, c):  # sin² = 1 - cos², from the c largest singular values, in torch
        s = torch.linalg.svdvals(torch.linalg.qr(torch.as_tensor(V))[0].T @ torch.linalg.qr(torch.as_tensor(W))[0])
        return torch.sqrt((1 - s[:c].clamp(max=1) ** 2).clamp(min=0).sum())

    accepts(check_schubert_distance, via_cosines)


def test_schubert_distance_mistakes():
    rejects(check_schubert_distance, lambda V, W, c: np.linalg.norm(np.sin(principal_angles(V, W)[::-1][:c])),
            "largest")
    rejects(check_schubert_distance, lambda V, W, c: np.linalg.norm(principal_angles(V, W)[:c]), "||sin Θ_c||")
    rejects(check_schubert_distance, lambda V, W, c: np.linalg.norm(np.sin(principal_angles(V, W))), "c smallest")

    def not_orthonormal(V, W, c):
        s = np.linalg.svd(V.T @ W, compute_uv=False)
        return np.linalg.norm(np.sin(np.arccos(np.clip(s, -1, 1)))[:c])

    rejects(check_schubert_distance, not_orthonormal)


# ---------------------------------------------------------------------------------------- fit_one_column


def test_fit_one_column_right_answers_pass():
    accepts(check_fit_one_column, fit_one_column)

    def by_svd(Xs):  # the top left singular vector of the bases side by side, negated, as a column
        A = np.concatenate(list(Xs), axis=1)
        return -np.linalg.svd(A, full_matrices=False)[0][:, :1]

    def power_iteration(Xs):
        S = torch.as_tensor(np.einsum("rnl,rml->nm", Xs, Xs))
        v = torch.ones(S.shape[0], dtype=torch.float64)
        for _ in range(2000):
            v = S @ v
            v = v / v.norm()
        return v

    accepts(check_fit_one_column, by_svd)
    accepts(check_fit_one_column, power_iteration)


def test_fit_one_column_mistakes():
    def smallest(Xs):
        return np.linalg.eigh(np.einsum("rnl,rml->nm", Xs, Xs))[1][:, 0]

    def centred(Xs):
        A = np.concatenate(list(Xs), axis=1).T
        return np.linalg.svd(A - A.mean(0), full_matrices=False)[2][0]

    def unnormalised(Xs):
        return 3 * fit_one_column(Xs)

    def mean_first_columns(Xs):
        v = Xs[:, :, 0].mean(0)
        return v / np.linalg.norm(v)

    def library(Xs):
        from dyngeo.geometry.subspaces import flag_mean
        return flag_mean(torch.as_tensor(Xs), 1)

    rejects(check_fit_one_column, smallest, "smallest eigenvalue")
    rejects(check_fit_one_column, centred, "centred")
    rejects(check_fit_one_column, unnormalised, "length 1", "normalise")
    rejects(check_fit_one_column, mean_first_columns, "not the best single column")
    rejects(check_fit_one_column, library, "switched off")
    rejects(check_fit_one_column, lambda Xs: np.eye(Xs.shape[1])[:, :2], "one vector")


# ---------------------------------------------------------------------------------------- mm_step

mm_step = SOLUTION["mm_step"]


def test_mm_step_right_answers_pass():
    accepts(check_mm_step, mm_step)

    def vectorised_qr(Xs, K):  # batched torch, and QR of G: another basis of the same span
        Xs, K = torch.as_tensor(Xs), torch.as_tensor(K)
        M = Xs.transpose(1, 2) @ K
        b = torch.linalg.svd(M)[2][:, 0, :]
        G = torch.einsum("rnl,rl,rk->nk", Xs, (M @ b.unsqueeze(2)).squeeze(2), b)
        return torch.linalg.qr(G)[0]

    def scipy_polar(Xs, K):
        G = sum(X @ X.T @ K @ np.outer(b, b) for X in Xs for b in [np.linalg.svd(X.T @ K)[2][0]])
        return sl.polar(G)[0]

    accepts(check_mm_step, vectorised_qr)
    accepts(check_mm_step, scipy_polar)


def test_mm_step_mistakes():
    def returns_g(Xs, K):
        G = np.zeros_like(K)
        for X in Xs:
            b = np.linalg.svd(X.T @ K)[2][0]
            G += X @ X.T @ K @ np.outer(b, b)
        return G

    def smallest_b(Xs, K):
        G = np.zeros_like(K)
        for X in Xs:
            b = np.linalg.svd(X.T @ K)[2][-1]
            G += X @ X.T @ K @ np.outer(b, b)
        U, _, Vt = np.linalg.svd(G, full_matrices=False)
        return U @ Vt

    def no_data(Xs, K):
        G = np.zeros_like(K)
        for X in Xs:
            b = np.linalg.svd(X.T @ K)[2][0]
            G += K @ np.outer(b, b)
        U, _, Vt = np.linalg.svd(G, full_matrices=False)
        return U @ Vt

    def library(Xs, K):
        from dyngeo.geometry.subspaces import svbf_mm
        return svbf_mm(torch.as_tensor(Xs), K.shape[1], iters=1, init=torch.as_tensor(K))[0]

    rejects(check_mm_step, returns_g, "polar factor")
    rejects(check_mm_step, smallest_b, "top right singular vector")
    rejects(check_mm_step, no_data, "carry the data")
    rejects(check_mm_step, library, "switched off")
    rejects(check_mm_step, lambda Xs, K: K.T, "shape")
