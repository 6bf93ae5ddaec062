"""The checkers of the set "RDMs from the brain": mistakes lose points, right answers written differently pass."""

import numpy as np
import scipy.optimize
import scipy.stats
import torch
from scipy.spatial.distance import pdist, squareform

from dyngeo.geometry import rsa
from dyngeo.grading.fmri_rdms import (check_category_weights, check_correlation_rdm, check_fiedler,
                                      check_partition_accuracy, check_rdm_similarity)

from checking import accepts, rejects, solution_namespace

# The solutions of the set: the right answers every test starts from.
SOLUTION = solution_namespace("09-fmri-rdms.md")
correlation_rdm, rdm_similarity, fiedler = SOLUTION["correlation_rdm"], SOLUTION["rdm_similarity"], SOLUTION["fiedler"]
partition_accuracy, category_weights = SOLUTION["partition_accuracy"], SOLUTION["category_weights"]


# ---------------------------------------------------------------------------------------- correlation_rdm


def test_correlation_rdm_right_answers_pass():
    accepts(check_correlation_rdm, correlation_rdm)
    accepts(check_correlation_rdm, lambda V: 1 - np.corrcoef(V))
    accepts(check_correlation_rdm, lambda V: (1 - torch.corrcoef(torch.as_tensor(V))).fill_diagonal_(0))

    def loops(V):
        m = len(V)
        R = np.zeros((m, m))
        for i in range(m):
            for j in range(m):
                a, b = V[i] - V[i].mean(), V[j] - V[j].mean()
                R[i, j] = 1 - a @ b / np.sqrt((a @ a) * (b @ b))
        return R.tolist()

    accepts(check_correlation_rdm, loops)


def test_correlation_rdm_mistakes():
    rejects(check_correlation_rdm, lambda V: np.corrcoef(V), "not the dissimilarity")
    rejects(check_correlation_rdm, lambda V: 1 - np.corrcoef(V.T), "stimuli are the rows")

    def cosine(V):
        Z = V / np.linalg.norm(V, axis=1, keepdims=True)
        return 1 - Z @ Z.T

    def column_centred(V):
        Z = V - V.mean(axis=0)
        Z = Z / np.linalg.norm(Z, axis=1, keepdims=True)
        return 1 - Z @ Z.T

    rejects(check_correlation_rdm, cosine, "cosine")
    rejects(check_correlation_rdm, column_centred, "column means")
    rejects(check_correlation_rdm, lambda V: np.sqrt(((V[:, None] - V[None]) ** 2).sum(-1)), "Euclidean")
    rejects(check_correlation_rdm, lambda V: (1 - np.corrcoef(V)) * np.nan, "NaN")
    rejects(check_correlation_rdm, lambda V: squareform(pdist(V, "correlation")), "switched off")
    rejects(check_correlation_rdm, lambda V: rsa.rdm(V), "switched off")
    rejects(check_correlation_rdm, lambda V: "R", "should be")


# ---------------------------------------------------------------------------------------- rdm_similarity


def test_rdm_similarity_right_answers_pass():
    accepts(check_rdm_similarity, rdm_similarity)

    def with_torch(R1, R2):
        i, j = np.triu_indices(len(R1), 1)
        a = torch.as_tensor(scipy.stats.rankdata(R1[i, j]))
        b = torch.as_tensor(scipy.stats.rankdata(R2[i, j]))
        return torch.corrcoef(torch.stack([a, b]))[0, 1]

    def with_squareform(R1, R2):
        a = scipy.stats.rankdata(squareform(R1, checks=False))
        b = scipy.stats.rankdata(squareform(R2, checks=False))
        return np.array([scipy.stats.pearsonr(a, b)[0]])

    accepts(check_rdm_similarity, with_torch)
    accepts(check_rdm_similarity, with_squareform)


def test_rdm_similarity_mistakes():
    def pearson(R1, R2):
        i, j = np.triu_indices(len(R1), 1)
        return np.corrcoef(R1[i, j], R2[i, j])[0, 1]

    def whole(R1, R2):
        a, b = scipy.stats.rankdata(R1.ravel()), scipy.stats.rankdata(R2.ravel())
        return np.corrcoef(a, b)[0, 1]

    def diagonal(R1, R2):
        i, j = np.triu_indices(len(R1))
        return np.corrcoef(scipy.stats.rankdata(R1[i, j]), scipy.stats.rankdata(R2[i, j]))[0, 1]

    def argsort_ranks(R1, R2):
        i, j = np.triu_indices(len(R1), 1)
        return np.corrcoef(np.argsort(np.argsort(R1[i, j], kind="stable")),
                           np.argsort(np.argsort(R2[i, j], kind="stable")))[0, 1]

    rejects(check_rdm_similarity, pearson, "Pearson")
    rejects(check_rdm_similarity, whole, "whole matrix")
    rejects(check_rdm_similarity, diagonal, "diagonal")
    rejects(check_rdm_similarity, argsort_ranks, "average rank")
    rejects(check_rdm_similarity, lambda R1, R2: scipy.stats.spearmanr(R1[np.triu_indices(len(R1), 1)],
                                                                        R2[np.triu_indices(len(R1), 1)])[0], "switched off")
    rejects(check_rdm_similarity, lambda R1, R2: [rdm_similarity(R1, R2)], "number")


# ---------------------------------------------------------------------------------------- fiedler


def test_fiedler_right_answers_pass():
    accepts(check_fiedler, fiedler)
    accepts(check_fiedler, lambda A: -fiedler(A))  # the sign is free

    def with_scipy(A):
        L = np.diag(A.sum(1)) - A
        return scipy.linalg.eigh(L, subset_by_index=[1, 1])[1][:, 0].tolist()

    def with_torch(A):
        A = torch.as_tensor(A)
        L = torch.diag(A.sum(1)) - A
        return torch.linalg.eigh(L).eigenvectors[:, 1]

    accepts(check_fiedler, with_scipy)
    accepts(check_fiedler, with_torch)


def test_fiedler_mistakes():
    def first(A):
        return np.linalg.eigh(np.diag(A.sum(1)) - A)[1][:, 0]

    def last(A):
        return np.linalg.eigh(np.diag(A.sum(1)) - A)[1][:, -1]

    def of_A(A):
        return np.linalg.eigh(A)[1][:, -2]

    def normalised(A):
        d = 1 / np.sqrt(A.sum(1))
        return np.linalg.eigh(np.eye(len(A)) - d[:, None] * A * d)[1][:, 1]

    def scaled(A):
        return 3 * fiedler(A)

    rejects(check_fiedler, first, "first eigenvector")
    rejects(check_fiedler, last, "largest")
    rejects(check_fiedler, of_A, "not of L")
    rejects(check_fiedler, normalised, "normalised")
    rejects(check_fiedler, scaled, "factor")
    rejects(check_fiedler, lambda A: fiedler(A)[:-1], "shape")
    rejects(check_fiedler, lambda A: rsa.fiedler_vector(rsa.laplacian(A))[1], "switched off")


# ---------------------------------------------------------------------------------------- partition_accuracy


def test_partition_accuracy_right_answers_pass():
    accepts(check_partition_accuracy, partition_accuracy)

    def counting(part, labels):
        a, b = np.unique(labels)
        p1, p2 = np.flatnonzero(~part), np.flatnonzero(part)
        one = np.sum(labels[p1] == a) + np.sum(labels[p2] == b)
        two = np.sum(labels[p1] == b) + np.sum(labels[p2] == a)
        return max(one, two) / len(labels)

    def with_torch(part, labels):
        p, y = torch.as_tensor(part), torch.as_tensor(labels)
        agree = (p == (y == y.min())).double().mean()
        return torch.maximum(agree, 1 - agree)

    accepts(check_partition_accuracy, counting)
    accepts(check_partition_accuracy, with_torch)


def test_partition_accuracy_mistakes():
    def printed(part, labels):
        return (np.sum(part) + np.sum(~part)) / len(part)

    def one_way(part, labels):
        return float(np.mean(part == (labels == labels.max())))

    def count(part, labels):
        return partition_accuracy(part, labels) * len(labels)

    def raw_labels(part, labels):
        agree = np.mean(part == labels)
        return max(agree, 1 - agree)

    rejects(check_partition_accuracy, printed, "printed")
    rejects(check_partition_accuracy, one_way, "one way")
    rejects(check_partition_accuracy, count, "count")
    rejects(check_partition_accuracy, raw_labels, "label values")
    rejects(check_partition_accuracy, lambda p, y: rsa.partition_accuracy(p, y), "switched off")


# ---------------------------------------------------------------------------------------- category_weights


def test_category_weights_right_answers_pass():
    accepts(check_category_weights, category_weights)

    def full_matrix(labels, R):  # both triangles and the zero diagonal: the same least-squares problem
        C = labels.max() + 1
        design = np.stack([(1 - np.outer(labels == c, labels == c)).ravel() - np.eye(len(labels)).ravel() * 0
                           for c in range(C)], 1)
        off = ~np.eye(len(labels), dtype=bool).ravel()
        return scipy.optimize.nnls(design[off], R.ravel()[off])[0].tolist()

    accepts(check_category_weights, full_matrix)


def test_category_weights_mistakes():
    def lstsq(labels, R):
        C = labels.max() + 1
        i, j = np.triu_indices(len(labels), 1)
        D = np.stack([~((labels[i] == c) & (labels[j] == c)) for c in range(C)], 1).astype(float)
        return np.linalg.lstsq(D, R[i, j], rcond=None)[0]

    def similarities(labels, R):
        C = labels.max() + 1
        i, j = np.triu_indices(len(labels), 1)
        D = np.stack([(labels[i] == c) & (labels[j] == c) for c in range(C)], 1).astype(float)
        return scipy.optimize.nnls(D, R[i, j])[0]

    rejects(check_category_weights, lstsq, "non-negative", seeds=(0, 1))
    rejects(check_category_weights, similarities, "similarities")
    rejects(check_category_weights, lambda y, R: rsa.fit_categorical_model(y, R)[0], "switched off")
