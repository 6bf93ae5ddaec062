"""The checkers of the set "Disentangling with orthogonality and a graph two-sample loss": mistakes lose
points with a message naming the cause, right answers written differently pass."""

import numpy as np
import torch
from sklearn.metrics import mutual_info_score

from dyngeo.grading.disentanglement_orthogonality import (check_mig, check_null_moments, check_orthogonality,
                                                          check_smoothed_1nn, check_split_normalise)
from dyngeo.metrics import disentanglement as dis
from dyngeo.metrics import two_sample as ts
from dyngeo.models import dae_og

from checking import accepts, rejects, solution_namespace

torch.set_num_threads(1)
SOLUTION = solution_namespace("14-disentanglement-orthogonality.md")
split_normalise, orthogonality = SOLUTION["split_normalise"], SOLUTION["orthogonality"]
smoothed_1nn, null_moments, mig = SOLUTION["smoothed_1nn"], SOLUTION["null_moments"], SOLUTION["mig"]


# ----------------------------------------------------------------------------------- split_normalise


def test_split_normalise_right_answers_pass():
    accepts(check_split_normalise, split_normalise)
    accepts(check_split_normalise, lambda z, k: torch.nn.functional.normalize(torch.stack(z.chunk(k, 1), 1), dim=2))
    accepts(check_split_normalise, lambda z, k: split_normalise(z, k).numpy())


def test_split_normalise_mistakes():
    rejects(check_split_normalise, lambda z, k: z.reshape(z.shape[0], k, -1), "not normalised")
    rejects(check_split_normalise, lambda z, k: (z / z.norm(dim=1, keepdim=True)).reshape(z.shape[0], k, -1),
            "whole code")

    def interleaved(z, k):
        c = z.reshape(z.shape[0], -1, k).transpose(1, 2)
        return c / c.norm(dim=2, keepdim=True)

    rejects(check_split_normalise, interleaved, "interleaved")
    rejects(check_split_normalise, lambda z, k: split_normalise(z, k).reshape(z.shape[0], -1), "wrong shape")
    rejects(check_split_normalise, lambda z, k: dae_og.normalise_chunks(z, k), "switched off")


# -------------------------------------------------------------------------------------- orthogonality


def test_orthogonality_right_answers_pass():
    accepts(check_orthogonality, orthogonality)

    def loop(z, k):  # a Python loop over images and pairs: slow but right
        c = torch.nn.functional.normalize(z.reshape(z.shape[0], k, -1), dim=2)
        total = 0
        for b in range(z.shape[0]):
            total = total + torch.linalg.norm(c[b] @ c[b].T - torch.eye(k, dtype=z.dtype))
        return total / z.shape[0]

    accepts(check_orthogonality, loop)


def test_orthogonality_mistakes():
    def squared(z, k):
        c = torch.nn.functional.normalize(z.reshape(z.shape[0], k, -1), dim=2)
        return ((c @ c.transpose(1, 2) - torch.eye(k, dtype=z.dtype)) ** 2).sum((1, 2)).mean()

    rejects(check_orthogonality, squared, "squared Frobenius")

    def unnormalised(z, k):
        c = z.reshape(z.shape[0], k, -1)
        return torch.linalg.matrix_norm(c @ c.transpose(1, 2) - torch.eye(k, dtype=z.dtype)).mean()

    rejects(check_orthogonality, unnormalised, "not normalised")
    rejects(check_orthogonality, lambda z, k: orthogonality(z, k) * z.shape[0], "summed over the batch")

    def no_identity(z, k):
        c = torch.nn.functional.normalize(z.reshape(z.shape[0], k, -1), dim=2)
        return torch.linalg.matrix_norm(c @ c.transpose(1, 2)).mean()

    rejects(check_orthogonality, no_identity, "identity")

    def mean_first(z, k):
        c = torch.nn.functional.normalize(z.reshape(z.shape[0], k, -1), dim=2)
        return torch.linalg.matrix_norm((c @ c.transpose(1, 2)).mean(0) - torch.eye(k, dtype=z.dtype))

    rejects(check_orthogonality, mean_first, "averaged before the norm")
    rejects(check_orthogonality, lambda z, k: orthogonality(z, k).detach(), "no gradient")
    rejects(check_orthogonality, lambda z, k: dae_og.orthogonality_loss(z, k), "switched off")


# --------------------------------------------------------------------------------------- smoothed_1nn


def _pool(X0, X1, lam):
    X = torch.cat([X0, X1])
    N = X.shape[0]
    lab = torch.arange(N) >= X0.shape[0]
    return X, N, (lab[:, None] != lab[None, :]).to(X.dtype), torch.eye(N, dtype=torch.bool)


def test_smoothed_1nn_right_answers_pass():
    accepts(check_smoothed_1nn, smoothed_1nn)

    def numpy_version(X0, X1, lam):  # NumPy, a stable log-sum-exp, float output
        X = np.concatenate([X0.numpy(), X1.numpy()])
        D = np.sqrt(((X[:, None] - X[None]) ** 2).sum(-1))
        np.fill_diagonal(D, np.inf)
        a = -D / lam
        a -= a.max(1, keepdims=True)
        mu = np.exp(a) / np.exp(a).sum(1, keepdims=True)
        lab = np.arange(len(X)) >= len(X0)
        return float((mu * (lab[:, None] != lab[None])).sum())

    accepts(check_smoothed_1nn, numpy_version)


def test_smoothed_1nn_mistakes():
    def within(X0, X1, lam):
        X, N, cross, eye = _pool(X0, X1, lam)
        mu = torch.softmax((-torch.cdist(X, X) / lam).masked_fill(eye, -float("inf")), 1)
        return (mu * (1 - cross)).sum()

    rejects(check_smoothed_1nn, within, "within a sample")

    def with_self(X0, X1, lam):
        X, N, cross, eye = _pool(X0, X1, lam)
        return (torch.softmax(-torch.cdist(X, X) / lam, 1) * cross).sum()

    rejects(check_smoothed_1nn, with_self, "denominator")

    def squared(X0, X1, lam):
        X, N, cross, eye = _pool(X0, X1, lam)
        return (torch.softmax((-torch.cdist(X, X) ** 2 / lam).masked_fill(eye, -float("inf")), 1) * cross).sum()

    rejects(check_smoothed_1nn, squared, "squared")

    rejects(check_smoothed_1nn, lambda X0, X1, lam: smoothed_1nn(X0, X1, lam) / 2, "ordered pairs")
    rejects(check_smoothed_1nn, lambda X0, X1, lam: ts.smoothed_1nn(X0, X1, lam, eps=0), "switched off")


# --------------------------------------------------------------------------------------- null_moments


def test_null_moments_right_answers_pass():
    accepts(check_null_moments, null_moments)

    def numpy_floats(mu, n0, n1):
        mean, var = null_moments(mu, n0, n1)
        return float(mean), np.float64(var)

    accepts(check_null_moments, numpy_floats)


def test_null_moments_mistakes():
    rejects(check_null_moments, lambda mu, n0, n1: (n0 * n1 / (n0 + n1), null_moments(mu, n0, n1)[1]), "2 n0 n1")

    def independent(mu, n0, n1):
        N = n0 + n1
        W = mu + mu.T
        p1 = 2 * n0 * n1 / (N * (N - 1))
        return null_moments(mu, n0, n1)[0], p1 * (1 - p1) * (torch.triu(W, 1) ** 2).sum()

    rejects(check_null_moments, independent, "independent")
    rejects(check_null_moments, lambda mu, n0, n1: (null_moments(mu, n0, n1)[0], null_moments(mu, n0, n1)[1].sqrt()),
            "standard deviation")
    rejects(check_null_moments, lambda mu, n0, n1: ts.null_moments(mu, n0, n1), "switched off")


# ------------------------------------------------------------------------------------------------ mig


def test_mig_right_answers_pass():
    accepts(check_mig, mig)

    def matrix_version(z, v):  # a full MI matrix from joint histograms, no scikit-learn
        def mi(a, b):
            joint = np.zeros((a.max() + 1, b.max() + 1))
            np.add.at(joint, (a, b), 1)
            joint /= len(a)
            outer = joint.sum(1, keepdims=True) * joint.sum(0, keepdims=True)
            nz = joint > 0
            return (joint[nz] * np.log(joint[nz] / outer[nz])).sum()

        I = np.array([[mi(z[:, j], v[:, k]) for k in range(v.shape[1])] for j in range(z.shape[1])])
        H = np.array([mi(c, c) for c in v.T])
        top = -np.sort(-I, axis=0)
        return np.mean((top[0] - top[1]) / H)

    accepts(check_mig, matrix_version)


def test_mig_mistakes():
    def info(z, v):
        return np.array([[mutual_info_score(z[:, j], v[:, k]) for k in range(v.shape[1])] for j in range(z.shape[1])])

    def unnormalised(z, v):
        top = np.sort(info(z, v), 0)[::-1]
        return np.mean(top[0] - top[1])

    rejects(check_mig, unnormalised, "not divided by H")

    def no_gap(z, v):
        H = np.array([mutual_info_score(c, c) for c in v.T])
        return np.mean(np.sort(info(z, v), 0)[::-1][0] / H)

    rejects(check_mig, no_gap, "second best")

    def per_dimension(z, v):
        H = np.array([mutual_info_score(c, c) for c in v.T])
        top = np.sort(info(z, v) / H, 1)[:, ::-1]
        return np.mean(top[:, 0] - top[:, 1])

    rejects(check_mig, per_dimension, "MIG-sup")
    rejects(check_mig, lambda z, v: dis.mig(z, v, discrete=True), "switched off")
