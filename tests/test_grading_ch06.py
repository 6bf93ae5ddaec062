"""Each checker of chapter 06 accepts the reference and rejects plausible wrong answers, saying why."""

import numpy as np
from scipy.optimize import linprog

from dyngeo.geometry import relu
from dyngeo.grading import ch06, run_check

# ----------------------------------------------------------------------------- references


def bit_vector(layers, x):
    return relu.activation_patterns(layers, np.asarray(x)[None]).numpy()[0].astype(int)


def h_representation(layers, s):
    return relu.hrep(layers, s)


def affine_map(layers, s):
    return relu.local_affine(layers, s)


def is_redundant(A, c, i):
    others = np.arange(len(c)) != i
    res = linprog(-A[i], A_ub=A[others], b_ub=c[others], bounds=[(None, None)] * A.shape[1], method="highs")
    return res.status != 3 and -res.fun <= c[i] + 1e-9


def chebyshev(A, c):
    return relu.chebyshev_center(A, c)


def walk(layers, a, b):
    return relu.bisection_walk(layers, a, b)[0]


def passes(check, candidate):
    ok, message = run_check(check, candidate)
    assert ok, message


def fails(check, candidate, *words):
    ok, message = run_check(check, candidate)
    assert not ok, "a wrong answer passed"
    for w in words:
        assert w in message, f"{w!r} not in the message {message!r}"


def test_references_pass():
    passes(ch06.check_bit_vector, bit_vector)
    passes(ch06.check_h_representation, h_representation)
    passes(ch06.check_affine_map, affine_map)
    passes(ch06.check_is_redundant, is_redundant)
    passes(ch06.check_chebyshev, chebyshev)
    passes(ch06.check_walk, walk)


def test_bit_vector_mistakes():
    def no_relu(layers, x):  # feeds the raw pre-activation to the next layer
        bits = []
        for W, b in layers[:-1]:
            x = W @ x + b
            bits.append(x > 0)
        return np.concatenate(bits).astype(int)

    def non_strict(layers, x):  # >= instead of >
        bits = []
        for W, b in layers[:-1]:
            z = W @ x + b
            bits.append(z >= 0)
            x = np.maximum(z, 0)
        return np.concatenate(bits).astype(int)

    fails(ch06.check_bit_vector, no_relu, "ReLU of the previous")
    fails(ch06.check_bit_vector, non_strict, "exactly 0")


def test_h_representation_mistakes():
    def flipped_sign(layers, s):
        A, c = relu.hrep(layers, s)
        return -A, -c

    def no_mask(layers, s):  # forgets diag(s_{j-1}) in the recursion
        s = np.asarray(s, dtype=bool)
        n1 = layers[0][0].shape[0]
        W1, b1 = layers[0]
        W2, b2 = layers[1]
        W_hat, b_hat = W2 @ W1, W2 @ b1 + b2
        sign1, sign2 = 1 - 2.0 * s[:n1], 1 - 2.0 * s[n1:]
        return np.vstack([sign1[:, None] * W1, sign2[:, None] * W_hat]), np.r_[-sign1 * b1, -sign2 * b_hat]

    def normalised(layers, s):
        A, c = relu.hrep(layers, s)
        n = np.linalg.norm(A, axis=1)
        return A / n[:, None], c / n

    fails(ch06.check_h_representation, flipped_sign, "sign vector")
    fails(ch06.check_h_representation, no_mask, "breaks its own")
    fails(ch06.check_h_representation, normalised, "row for row")


def test_affine_map_mistakes():
    def no_output_bias(layers, s):
        W, b = relu.local_affine(layers, s)
        return W, b - layers[-1][1]

    def unmasked_last_layer(layers, s):
        return relu.local_affine(layers, np.r_[np.asarray(s)[: -layers[-2][0].shape[0]], np.ones(layers[-2][0].shape[0])])

    fails(ch06.check_affine_map, no_output_bias, "output bias")
    fails(ch06.check_affine_map, unmasked_last_layer, "Jacobian")


def test_is_redundant_mistakes():
    def keeps_row_i(A, c, i):
        res = linprog(-A[i], A_ub=A, b_ub=c, bounds=[(None, None)] * A.shape[1], method="highs")
        return -res.fun <= c[i] + 1e-9

    def minimises(A, c, i):
        others = np.arange(len(c)) != i
        res = linprog(A[i], A_ub=A[others], b_ub=c[others], bounds=[(None, None)] * A.shape[1], method="highs")
        return res.status != 3 and res.fun <= c[i] + 1e-9

    def unbounded_means_redundant(A, c, i):
        others = np.arange(len(c)) != i
        res = linprog(-A[i], A_ub=A[others], b_ub=c[others], bounds=[(None, None)] * A.shape[1], method="highs")
        return res.status == 3 or -res.fun <= c[i] + 1e-9

    fails(ch06.check_is_redundant, keeps_row_i, "drop row i")
    fails(ch06.check_is_redundant, minimises, "redundant")
    fails(ch06.check_is_redundant, unbounded_means_redundant, "unbounded LP")


def test_chebyshev_mistakes():
    def no_norm(A, c):  # uses r instead of r ||a_i||
        res = linprog(np.r_[-1.0, 0, 0], A_ub=np.hstack([np.ones((len(c), 1)), A]), b_ub=c, bounds=[(None, None)] * 3)
        return res.x[1:], res.x[0]

    def diameter(A, c):
        center, r = relu.chebyshev_center(A, c)
        return center, 2 * r

    fails(ch06.check_chebyshev, no_norm, "||a_i||")
    fails(ch06.check_chebyshev, diameter, "radius for the square")


def test_walk_mistakes():
    def accepts_any_change(layers, a, b):  # records midpoints that differ in several bits
        left = bit_vector(layers, a)
        out = []
        for t in np.linspace(0, 1, 9)[1:-1]:
            s = bit_vector(layers, a + t * (b - a))
            if np.any(s != left):
                out.append(t)
                left = s
        return np.array(out)

    def with_end_points(layers, a, b):
        return np.r_[0.0, walk(layers, a, b), 1.0]

    def all_boundaries(layers, a, b):  # one delta too many: a sample inside b's own cell
        return np.r_[walk(layers, a, b), 1 - 1e-9]

    fails(ch06.check_walk, accepts_any_change, "exactly one boundary")
    fails(ch06.check_walk, with_end_points, "(0, 1)")
    fails(ch06.check_walk, all_boundaries, "expected")
