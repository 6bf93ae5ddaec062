"""The checkers of the set "ReLU networks as polyhedra": mistakes lose points, right answers written differently pass."""

import numpy as np
import pytest
import torch
from scipy.optimize import linprog

from dyngeo.geometry import relu
from dyngeo.grading.relu_polyhedra import (check_affine_map, check_bit_vector, check_chebyshev, check_h_representation,
                                           check_is_redundant, check_walk)

from checking import accepts, rejects, solution_namespace

# The solutions of the set: the right answers every test starts from.
SOLUTION = solution_namespace("06-relu-polyhedra.md")
bit_vector, h_representation, affine_map = SOLUTION["bit_vector"], SOLUTION["h_representation"], SOLUTION["affine_map"]
is_redundant, chebyshev, walk = SOLUTION["is_redundant"], SOLUTION["chebyshev"], SOLUTION["walk"]


# ---------------------------------------------------------------------------------------- bit_vector


def test_bit_vector_right_answers_pass():
    accepts(check_bit_vector, bit_vector)

    def with_torch(layers, x):  # torch, booleans, a list: all fine
        h, bits = torch.as_tensor(x), []
        for W, b in layers[:-1]:
            z = torch.as_tensor(W) @ h + torch.as_tensor(b)
            bits += (z > 0).tolist()
            h = torch.relu(z)
        return bits

    accepts(check_bit_vector, with_torch)


def test_bit_vector_mistakes():
    def no_relu(layers, x):
        bits = []
        for W, b in layers[:-1]:
            x = W @ x + b
            bits.append(x > 0)
        return np.concatenate(bits).astype(int)

    rejects(check_bit_vector, no_relu, "max(0, W x + b)")
    rejects(check_bit_vector, lambda layers, x: 1 - bit_vector(layers, x), "inverted")
    rejects(check_bit_vector, lambda layers, x: bit_vector(layers, x)[: layers[0][0].shape[0]], "one bit per hidden neuron")

    def non_strict(layers, x):
        bits = []
        for W, b in layers[:-1]:
            z = W @ x + b
            bits.append(z >= 0)
            x = np.maximum(z, 0)
        return np.concatenate(bits).astype(int)

    rejects(check_bit_vector, non_strict, "exactly 0")
    rejects(check_bit_vector, lambda layers, x: relu.activation_patterns(layers, x[None]).numpy()[0], "switched off")


# ---------------------------------------------------------------------------------- h_representation


def test_h_representation_right_answers_pass():
    accepts(check_h_representation, h_representation)
    accepts(check_h_representation, lambda layers, s: [torch.tensor(v) for v in h_representation(layers, s)])


def test_h_representation_mistakes():
    def reversed_sign(layers, s):
        A, c = h_representation(layers, s)
        return -A, -c

    rejects(check_h_representation, reversed_sign, "reversed")

    def uncollapsed(layers, s):  # the later layers' rows built from W_j applied to the previous layer's raw Ŵ
        A, c = h_representation(layers, s)
        first = layers[0][0].shape[0]
        A, c = A.copy(), c.copy()
        A[first:] *= 1.5
        return A, c

    rejects(check_h_representation, uncollapsed, "collapsed")
    rejects(check_h_representation, lambda layers, s: relu.hrep(layers, s), "switched off")


# ---------------------------------------------------------------------------------------- affine_map


def test_affine_map_right_answers_pass():
    accepts(check_affine_map, affine_map)
    accepts(check_affine_map, lambda layers, s: list(affine_map(layers, s)))


def test_affine_map_mistakes():
    rejects(check_affine_map, lambda layers, s: (affine_map(layers, s)[0], affine_map(layers, s)[1] - layers[-1][1]),
            "output bias")
    rejects(check_affine_map, lambda layers, s: (affine_map(layers, s)[0].T, affine_map(layers, s)[1]), "W_eff")
    rejects(check_affine_map, lambda layers, s: relu.local_affine(layers, s), "switched off")


# --------------------------------------------------------------------------------------- is_redundant


def lp_redundant(A, c, i, bounds=(None, None), strict=False):
    others = np.arange(len(c)) != i
    res = linprog(-A[i], A_ub=A[others], b_ub=c[others], bounds=[bounds] * A.shape[1], method="highs")
    if res.status == 3:
        return False
    return -res.fun < c[i] if strict else -res.fun <= c[i] + 1e-9


def test_is_redundant_right_answers_pass():
    accepts(check_is_redundant, is_redundant)
    accepts(check_is_redundant, lambda A, c, i: np.bool_(lp_redundant(A, c, i)))  # a NumPy bool is fine
    accepts(check_is_redundant, lambda A, c, i: int(lp_redundant(A, c, i)))  # so is 0/1


def test_is_redundant_mistakes():
    rejects(check_is_redundant, lambda A, c, i: lp_redundant(A, c, i, strict=True), "tolerance")
    rejects(check_is_redundant, lambda A, c, i: lp_redundant(A, c, i, bounds=(0, None)), "bounds")
    rejects(check_is_redundant, lambda A, c, i: not lp_redundant(A, c, i), "reversed")

    def keeps_row_i(A, c, i):
        res = linprog(-A[i], A_ub=A, b_ub=c, bounds=[(None, None)] * A.shape[1], method="highs")
        return res.status != 3 and -res.fun <= c[i] + 1e-9

    rejects(check_is_redundant, keeps_row_i, "drop row i")

    def unbounded_means_redundant(A, c, i):
        others = np.arange(len(c)) != i
        res = linprog(-A[i], A_ub=A[others], b_ub=c[others], bounds=[(None, None)] * A.shape[1], method="highs")
        return True if res.status == 3 else -res.fun <= c[i] + 1e-9

    rejects(check_is_redundant, unbounded_means_redundant, "unbounded")
    rejects(check_is_redundant, lambda A, c, i: float("nan"), "NaN")


# ------------------------------------------------------------------------------------------ chebyshev


def cheb(A, c, nonnegative=False, norms=True):
    n = np.linalg.norm(A, axis=1) if norms else np.ones(len(c))
    res = linprog(np.r_[-1.0, np.zeros(A.shape[1])], A_ub=np.hstack([n[:, None], A]), b_ub=c,
                  bounds=[(0, None) if nonnegative else (None, None)] + [(None, None)] * A.shape[1], method="highs")
    return res.x[1:], res.x[0]


def test_chebyshev_right_answers_pass():
    accepts(check_chebyshev, chebyshev)
    accepts(check_chebyshev, lambda A, c: list(cheb(A, c)))  # a list instead of a tuple
    accepts(check_chebyshev, lambda A, c: (torch.tensor(cheb(A, c)[0]), torch.tensor(cheb(A, c)[1])))


def test_chebyshev_mistakes():
    rejects(check_chebyshev, lambda A, c: cheb(A, c, norms=False), "||a_i||")
    rejects(check_chebyshev, lambda A, c: cheb(A, c, nonnegative=True), "free in sign")
    rejects(check_chebyshev, lambda A, c: (np.zeros(2), float("nan")), "NaN")
    rejects(check_chebyshev, lambda A, c: cheb(A, c)[1], "should be a tuple")
    rejects(check_chebyshev, lambda A, c: relu.chebyshev_center(A, c), "switched off")


# ----------------------------------------------------------------------------------------------- walk


def test_walk_right_answers_pass():
    accepts(check_walk, walk)
    accepts(check_walk, lambda layers, a, b: list(walk(layers, a, b)))


def test_walk_mistakes():
    def no_reset(layers, a, b):  # the paper's omission: hi is never reset, so the walk stalls
        left, target = bit_vector(layers, a), bit_vector(layers, b)
        lo, hi, deltas = 0.0, 1.0, []
        while np.count_nonzero(left != target) > 1:
            mid = (lo + hi) / 2
            s = bit_vector(layers, a + mid * (b - a))
            d = np.count_nonzero(s != left)
            if d == 0:
                lo = mid
            elif d == 1:
                deltas.append(mid)
                left, lo = s, mid
            else:
                hi = mid
        return np.array(deltas)

    message = rejects(check_walk, no_reset, "reset", seeds=(0,))
    assert "time limit" in message
    rejects(check_walk, lambda layers, a, b: np.r_[0.0, walk(layers, a, b), 1.0], "end points")
    rejects(check_walk, lambda layers, a, b: walk(layers, a, b)[::2], "exactly one wall")
    rejects(check_walk, lambda layers, a, b: relu.bisection_walk(layers, a, b)[0], "switched off")


@pytest.mark.parametrize("bad", [None, "deltas", {"a": 1}])
def test_walk_rejects_wrong_types(bad):
    rejects(check_walk, lambda layers, a, b: bad, "deltas", seeds=(0,))
