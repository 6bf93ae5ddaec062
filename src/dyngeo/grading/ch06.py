"""Checkers for chapter 06, ReLU networks as polyhedra. References: ``dyngeo.geometry.relu``.

Every exercise works on a network given as a list of ``(W, b)`` NumPy pairs (hidden layers, then
the output layer), as returned by ``dyngeo.geometry.relu.relu_layers``.
"""

import numpy as np

from ..geometry import relu
from . import GradingError, checker

__all__ = ["check_bit_vector", "check_h_representation", "check_affine_map", "check_is_redundant",
           "check_chebyshev", "check_walk"]


def _net(sizes, seed):
    rng = np.random.default_rng(seed)
    return [(rng.normal(size=(b, a)), rng.normal(size=b) * 0.5) for a, b in zip(sizes[:-1], sizes[1:])]


def _points(m, n, seed):
    return np.random.default_rng(seed).uniform(-1, 1, size=(n, m))


def _array(value, what):
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise GradingError(f"{what} should be an array; got {type(value).__name__}") from None


@checker(points=2, target="bit_vector")
def check_bit_vector(bit_vector):
    for seed, sizes in enumerate([(2, 5, 1), (3, 6, 4, 2), (4, 5, 5, 5, 1)]):
        layers = _net(sizes, seed)
        for x in _points(sizes[0], 20, seed):
            got = _array(bit_vector(layers, x), "bit_vector(layers, x)").reshape(-1)
            want = relu.activation_patterns(layers, x[None]).numpy()[0].astype(float)
            if got.shape != want.shape:
                raise GradingError(f"for hidden widths {sizes[1:-1]} the bit vector needs {want.size} bits; got {got.size}")
            if not np.array_equal(got, want):
                first = sizes[1]
                if np.array_equal(got[:first], want[:first]):
                    raise GradingError("the first hidden layer is right but a later one is not: feed each layer the "
                                       "ReLU of the previous pre-activation, max(0, W x + b), not W x + b itself")
                raise GradingError(f"wrong bits for x = {np.round(x, 3)}: expected {want.astype(int)}, got {got.astype(int)}")
    # a pre-activation exactly 0 gives bit 0 (eq. 3 uses a strict inequality)
    layers = [(np.array([[1.0, 0.0], [0.0, 1.0]]), np.zeros(2)), (np.ones((1, 2)), np.zeros(1))]
    got = _array(bit_vector(layers, np.array([0.0, 0.5])), "bit_vector").reshape(-1)
    if got[0] != 0:
        raise GradingError("a neuron whose pre-activation is exactly 0 must get bit 0: eq. (3) uses w x + b > 0")


@checker(points=2, target="h_representation")
def check_h_representation(h_representation):
    layers = _net((2, 6, 6, 1), 7)
    X = _points(2, 60, 1)
    S = relu.activation_patterns(layers, X).numpy()
    for x, s in zip(X, S):
        A, c = (_array(v, "A, c") for v in h_representation(layers, s))
        if A.shape != (12, 2) or c.shape != (12,):
            raise GradingError(f"A should be [h, m] = [12, 2] and c [12]; got {A.shape} and {c.shape}")
        if np.any(A @ x > c + 1e-9):
            bad = int(np.argmax(A @ x - c))
            raise GradingError(f"a point breaks its own cell's inequality {bad} (A x <= c fails): check the sign "
                               "vector s' (+1 for an off neuron, -1 for an on one)")
        others = np.flatnonzero(np.any(S != s, axis=1))
        if not all(np.any(A @ X[k] > c + 1e-12) for k in others):
            raise GradingError("a point of another cell satisfies all of this cell's inequalities: the rows of later "
                               "layers must use the collapsed weights W_j diag(s_{j-1}) Ŵ_{j-1}")
        A_ref, c_ref = relu.hrep(layers, s)
        if not (np.allclose(A, A_ref, atol=1e-9) and np.allclose(c, c_ref, atol=1e-9)):
            raise GradingError("A, c describe the right cell but not row for row as in eq. (5): keep one row per "
                               "hidden neuron, in the order of the bit vector, without rescaling")


@checker(points=2, target="affine_map")
def check_affine_map(affine_map):
    for seed, sizes in enumerate([(2, 5, 1), (3, 6, 4, 2)]):
        layers = _net(sizes, seed + 10)
        for x in _points(sizes[0], 20, seed):
            s = relu.activation_patterns(layers, x[None]).numpy()[0]
            W, b = (_array(v, "W_eff, b_eff") for v in affine_map(layers, s))
            W_ref, b_ref = relu.local_affine(layers, s)
            if W.shape != W_ref.shape or b.shape != b_ref.shape:
                raise GradingError(f"W_eff should be {W_ref.shape} and b_eff {b_ref.shape}; got {W.shape} and {b.shape}")
            if not np.allclose(W, W_ref, atol=1e-9):
                raise GradingError("W_eff is not the network's Jacobian on the cell: it is W_{L+1} diag(s_L) Ŵ_L")
            if not np.allclose(W @ x + b, W_ref @ x + b_ref, atol=1e-9):
                raise GradingError("W_eff x + b_eff differs from the network's output: check b_eff = "
                                   "W_{L+1} diag(s_L) b̂_L + b_{L+1} (the output bias included)")


@checker(points=2, target="is_redundant")
def check_is_redundant(is_redundant):
    # the square |x|, |y| <= 1 plus x + y <= 3 (redundant), x + y <= 1.5 (a facet), x <= 2 (redundant)
    A = np.array([[1.0, 0], [-1, 0], [0, 1], [0, -1], [1, 1], [1, 1], [1, 0]])
    c = np.array([1.0, 1, 1, 1, 3, 1.5, 2])
    want = [False, False, False, False, True, False, True]
    got = [bool(is_redundant(A, c, i)) for i in range(len(c))]
    if got != want:
        if all(got):
            raise GradingError("every row came out redundant: the LP of eq. (6) must drop row i from the constraints")
        wrong = [i for i in range(len(c)) if got[i] != want[i]]
        if wrong == [1, 3]:  # the only rows whose LP is unbounded once they are dropped
            raise GradingError("rows 1 and 3 (-x <= 1, -y <= 1) came out redundant, yet without them the LP is "
                               "unbounded: an unbounded LP means row i cuts something off, so it is not redundant")
        if got == [not w for w in want]:
            raise GradingError("the answers are reversed: row i is redundant when max a_i x over the other rows is <= c_i")
        raise GradingError(f"for the square with three extra rows expected redundant = {want}; got {got}")
    # an open wedge: x >= 0, y >= 0, x + y >= 1 (both axes are facets; the LP of a facet is unbounded)
    A = np.array([[-1.0, 0], [0, -1], [-1, -1]])
    got = [bool(is_redundant(A, np.array([0.0, 0, -1]), i)) for i in range(3)]
    if got != [False, False, False]:
        raise GradingError(f"on the wedge x >= 0, y >= 0, x + y >= 1 no row is redundant; got {got} "
                           "(an unbounded LP means row i cuts something off: not redundant)")


@checker(points=2, target="chebyshev")
def check_chebyshev(chebyshev):
    cases = [("the square [-1, 1]^2", np.vstack([np.eye(2), -np.eye(2)]), np.ones(4)),
             ("the triangle (0,0), (1,0), (0,1)", np.array([[-1.0, 0], [0, -1], [1, 1]]), np.array([0.0, 0, 1])),
             ("a random pentagon", None, None)]
    rng = np.random.default_rng(3)
    angles = np.sort(rng.uniform(0, 2 * np.pi, 5))
    cases[2] = (cases[2][0], np.stack([np.cos(angles), np.sin(angles)], 1) * rng.uniform(0.5, 2, (5, 1)), np.ones(5))
    for name, A, c in cases:
        out = chebyshev(A, c)
        if not isinstance(out, tuple) or len(out) != 2:
            raise GradingError("return a tuple (center, radius)")
        center, radius = _array(out[0], "center").reshape(-1), float(out[1])
        ref_center, ref_radius = relu.chebyshev_center(A, c)
        if abs(radius - ref_radius) > 1e-6:
            hint = " (did you forget the factor ||a_i|| in a_i x + r ||a_i|| <= c_i?)" if name.startswith("the tri") else ""
            raise GradingError(f"radius for {name}: expected {ref_radius:.6f}, got {radius:.6f}{hint}")
        if np.any(A @ center + radius * np.linalg.norm(A, axis=1) > c + 1e-6):
            raise GradingError(f"for {name} the ball of radius {radius:.4f} around {np.round(center, 4)} leaves the polygon")


@checker(points=2, target="walk")
def check_walk(walk):
    layers = _net((2, 8, 8, 1), 21)
    for a, b in [(np.array([-1.0, -1.0]), np.array([1.0, 0.8])), (np.array([0.9, -0.8]), np.array([-0.7, 0.6]))]:
        deltas = _array(walk(layers, a, b), "deltas").reshape(-1)
        ref, _ = relu.bisection_walk(layers, a, b)
        if np.any(deltas <= 0) or np.any(deltas >= 1) or np.any(np.diff(deltas) <= 0):
            raise GradingError("deltas must increase strictly and lie in (0, 1), without the end points 0 and 1")
        pts = a + np.r_[0.0, deltas, 1.0][:, None] * (b - a)
        S = relu.activation_patterns(layers, pts).numpy()
        steps = np.count_nonzero(S[1:] != S[:-1], axis=1)
        if np.any(steps[:-1] != 1):
            k = int(np.flatnonzero(steps[:-1] != 1)[0])
            raise GradingError(f"consecutive samples {k} and {k + 1} differ in {steps[k]} bits; each step must cross "
                               "exactly one boundary (Hamming distance 1)")
        if len(deltas) != len(ref):
            raise GradingError(f"the segment crosses {len(ref) + 1} boundaries, so expected {len(ref)} deltas "
                               f"(the last step lands in b's cell); got {len(deltas)}")
