"""Checkers for the exercise set "ReLU networks as polyhedra" (``exercises/06-relu-polyhedra``).

Every exercise works on a network given as a list of ``(W, b)`` NumPy pairs (hidden layers, then
the output layer). The expected values come from ``dyngeo.geometry.relu``, whose functions are
switched off while the student's answers run.
"""

import numpy as np
from scipy.optimize import linprog

from ..geometry import relu
from . import GradingError, Unanswered, checker, judge

__all__ = ["check_bit_vector", "check_h_representation", "check_affine_map", "check_is_redundant",
           "check_chebyshev", "check_walk"]

R = "dyngeo.geometry.relu."
PATTERNS = [R + "activation_patterns", R + "_pattern_np"]


def _net(sizes, rng):
    return [(rng.normal(size=(b, a)), rng.normal(size=b) * 0.5) for a, b in zip(sizes[:-1], sizes[1:])]


def _cells(rng):
    """(sizes, layers, points) for three random networks of different depths."""
    out = []
    for sizes in [(2, 5, 1), (3, 6, 4, 2), (4, 5, 5, 5, 1)]:
        layers = _net(sizes, rng)
        out.append((sizes, layers, rng.uniform(-1, 1, size=(12, sizes[0]))))
    return out


def _describe(sizes):
    return f"a network with input {sizes[0]}, hidden widths {list(sizes[1:-1])}"


@checker(points=2, target="bit_vector", forbid=PATTERNS)
def check_bit_vector(ask, seed):
    """The activation pattern of single points, bit for bit, with a zero pre-activation giving 0."""
    rng = np.random.default_rng(seed)
    for sizes, layers, X in _cells(rng):
        got = ask("[np.asarray(answer(layers, x.copy())).reshape(-1) for x in X]", case=_describe(sizes),
                  layers=layers, X=X)
        want = relu.activation_patterns(layers, X).numpy().astype(int)
        first = sizes[1]
        for x, g, w in zip(X, judge.sequence(got, "the bit vectors", len(X)), want):
            g = judge.array(g, "the bit vector", kind="int")
            if g.shape != w.shape:
                raise GradingError(f"for {_describe(sizes)} the bit vector has one bit per hidden neuron, {w.size} in "
                                   f"all; got {g.size}")
            if not np.array_equal(g, w):
                cause = ""
                if np.array_equal(g[:first], w[:first]):
                    cause = (". Likely cause: the first layer is right, a later one is not: feed each layer "
                             "max(0, W x + b), the ReLU of the previous pre-activation, not W x + b itself")
                elif np.array_equal(g, 1 - w):
                    cause = ". Likely cause: the bits are inverted: a neuron is on (1) when W x + b > 0"
                raise GradingError(f"for {_describe(sizes)} at x = {np.round(x, 3)}: expected {w}, got {g}{cause}")
    layers = [(np.eye(2), np.zeros(2)), (np.ones((1, 2)), np.zeros(1))]
    got = judge.array(ask("answer(layers, np.array([0.0, 0.5]))", case="a pre-activation exactly 0", layers=layers),
                      "the bit vector", kind="int").reshape(-1)
    if got.size != 2 or got[0] != 0:
        raise GradingError(f"at x = (0, 0.5) with W1 = I, b1 = 0 expected [0 1], got {got}: a neuron whose "
                           "pre-activation is exactly 0 gets bit 0 (eq. 3 uses w x + b > 0)")


@checker(points=2, target="h_representation", forbid=[R + "hrep", R + "_collapsed"])
def check_h_representation(ask, seed):
    """A, c of eq. (5), row for row, for the cells of random points."""
    rng = np.random.default_rng(seed)
    for sizes, layers, X in _cells(rng)[:2]:
        S = relu.activation_patterns(layers, X).numpy()
        got = judge.sequence(ask("[tuple(answer(layers, s.copy())) for s in S]", case=_describe(sizes), layers=layers,
                                 S=S), "the answers", len(S))
        for k, (s, pair) in enumerate(zip(S, got)):
            A, c = (judge.array(v, name) for v, name in zip(judge.sequence(pair, "h_representation's (A, c)", 2), "Ac"))
            A_ref, c_ref = relu.hrep(layers, s)
            case = f"{_describe(sizes)}, pattern {s.astype(int)}"
            if A.shape != A_ref.shape or c.shape != c_ref.shape:
                raise GradingError(f"for {case}: A should be {A_ref.shape} and c {c_ref.shape} (one row per hidden "
                                   f"neuron); got {A.shape} and {c.shape}")
            first = sizes[1]
            later = ("" if not (np.allclose(A[:first], A_ref[:first]) and np.allclose(c[:first], c_ref[:first])) else
                     "the first layer's rows are right, a later layer's are not: use the collapsed "
                     "Ŵ_j = W_j diag(s_{j-1}) Ŵ_{j-1} and b̂_j = W_j diag(s_{j-1}) b̂_{j-1} + b_j")
            hints = [(-A_ref, "the sign s' is reversed (+1 for an off neuron, -1 for an on one)")]
            if later:  # A itself as the "mistake": whenever the first layer's rows are right, that is the cause
                hints.append((A, later))
            judge.close(A, A_ref, "A", rtol=1e-7, atol=1e-9, case=case, hints=hints)
            judge.close(c, c_ref, "c", rtol=1e-7, atol=1e-9, case=case, hints=[(-c_ref, "the sign of c is reversed")])


@checker(points=2, target="affine_map", forbid=[R + "local_affine", R + "_collapsed"])
def check_affine_map(ask, seed):
    """W_eff, b_eff of a cell: the network's Jacobian and offset there."""
    rng = np.random.default_rng(seed)
    for sizes, layers, X in _cells(rng):
        S = relu.activation_patterns(layers, X).numpy()
        got = judge.sequence(ask("[tuple(answer(layers, s.copy())) for s in S]", case=_describe(sizes), layers=layers,
                                 S=S), "the answers", len(S))
        for s, pair in zip(S, got):
            W, b = judge.sequence(pair, "affine_map's (W_eff, b_eff)", 2)
            W_ref, b_ref = relu.local_affine(layers, s)
            case = f"{_describe(sizes)}, pattern {s.astype(int)}"
            W_out, b_out = layers[-1]
            judge.close(W, W_ref, "W_eff", rtol=1e-7, atol=1e-9, case=case)
            judge.close(b, b_ref, "b_eff", rtol=1e-7, atol=1e-9, case=case,
                        hints=[(b_ref - b_out, "the output bias b_{L+1} is missing")])


def _lp_max(A, c, i, bounds):
    others = np.arange(len(c)) != i
    res = linprog(-A[i], A_ub=A[others], b_ub=c[others], bounds=bounds, method="highs")
    return None if res.status == 3 else -res.fun


def _redundancy_cases(rng):
    theta = rng.uniform(0, 2 * np.pi)
    Q = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    square = np.vstack([np.eye(2), -np.eye(2)])
    shift = rng.uniform(-0.3, 0.3, 2)
    # the square |x|, |y| <= 1 with extra rows: x + y <= 3 (redundant), x + y <= 1.5 (a facet), x <= 2 (redundant),
    # x + y <= 2 (touches a corner: redundant, the LP optimum equals c_i), and a copy of x <= 1 (each copy redundant)
    A = np.vstack([square, [[1, 1], [1, 1], [1, 0], [1, 1], [1, 0]]]).astype(float)
    c = np.array([1, 1, 1, 1, 3, 1.5, 2, 2, 1.0])
    A, c = A @ Q.T, c + A @ Q.T @ shift  # rotated and shifted, so the answers are not axis-aligned by luck
    cases = [("the rotated square with five extra rows", A, c)]
    # an open wedge x >= 0, y >= 0, x + y >= 1 shifted into the negative quadrant: no row is redundant
    W = np.array([[-1.0, 0], [0, -1], [-1, -1]])
    cases.append(("a wedge around (-2, -3)", W, np.array([0.0, 0, -1]) + W @ np.array([-2.0, -3.0])))
    return cases


@checker(points=2, target="is_redundant", forbid=[R + "facets", R + "_cell_lps", R + "_rows"])
def check_is_redundant(ask, seed):
    """The LP of eq. (6) for every row: tight rows and copies are redundant, unbounded LPs are not."""
    rng = np.random.default_rng(seed)
    free = [(None, None)] * 2
    for name, A, c in _redundancy_cases(rng):
        optima = [_lp_max(A, c, i, free) for i in range(len(c))]
        want = [bool(m is not None and m <= c[i] + 1e-9) for i, m in enumerate(optima)]
        got = ask("[answer(A.copy(), c.copy(), i) for i in range(len(c))]", case=name, A=A, c=c)
        got = [bool(judge.number(v, f"is_redundant(A, c, {i})") != 0) if not isinstance(v, bool) else v
               for i, v in enumerate(judge.sequence(got, "the answers", len(c)))]
        if got == want:
            continue
        wrong = [i for i in range(len(c)) if got[i] != want[i]]
        default = [bool(m is not None and m <= c[i] + 1e-9)
                   for i, m in enumerate(_lp_max(A, c, i, (0, None)) for i in range(len(c)))]
        tight = [i for i, m in enumerate(optima) if m is not None and abs(m - c[i]) < 1e-7]
        cause = ""
        if all(got):
            cause = "every row came out redundant: drop row i from the constraints of its own LP"
        elif got == [not w for w in want]:
            cause = "the answers are reversed: row i is redundant when max a_i x over the other rows is <= c_i"
        elif set(wrong) <= set(tight) and not any(got[i] for i in wrong):
            cause = ("a row whose LP optimum equals c_i exactly (a corner it only touches, or a copy of another row) is "
                     "redundant: compare with <= and a tolerance, not <")
        elif got == default:
            cause = ("linprog's default bounds are x >= 0, which cuts the plane: pass bounds=[(None, None)] * n")
        elif all(optima[i] is None for i in wrong):
            cause = "an unbounded LP (status 3) means row i cuts something off: it is not redundant"
        raise GradingError(f"for {name}, rows {wrong} are wrong: expected redundant = {want}, got {got}"
                           + (f". Likely cause: {cause}" if cause else ""))


@checker(points=2, target="chebyshev", forbid=[R + "chebyshev_center"])
def check_chebyshev(ask, seed):
    """Centre and radius of the largest inscribed ball, including the negative radius of an empty cell."""
    rng = np.random.default_rng(seed)
    angles = 2 * np.pi * np.arange(6) / 6 + rng.uniform(-0.4, 0.4, 6)  # gaps below pi: bounded
    normals = np.stack([np.cos(angles), np.sin(angles)], 1) * rng.uniform(0.5, 2, (6, 1))
    offset = rng.uniform(-0.5, 0.5, 2)
    cases = [("the square [-1, 1]^2", np.vstack([np.eye(2), -np.eye(2)]), np.ones(4)),
             ("the triangle (0,0), (1,0), (0,1)", np.array([[-1.0, 0], [0, -1], [1, 1]]), np.array([0.0, 0, 1])),
             ("a random hexagon", normals, np.ones(6) + normals @ offset),
             ("an empty cell: x <= -1 and x >= 1 within |y| <= 1",
              np.array([[1.0, 0], [-1, 0], [0, 1], [0, -1]]), np.array([-1.0, -1, 1, 1]))]
    for name, A, c in cases:
        try:
            out = judge.sequence(ask("answer(A.copy(), c.copy())", case=name, A=A, c=c), "chebyshev's result", 2)
        except Unanswered as error:
            if name.startswith("an empty"):
                raise GradingError(f"{error}. Likely cause: an empty cell has no ball, and the LP then has a "
                                   "negative optimum; keep the radius free in sign (bounds (None, None)) so the "
                                   "negative radius can say that the cell is empty") from None
            raise
        center = judge.array(out[0], "the centre").reshape(-1)
        radius = judge.number(out[1], "the radius")
        ref_center, ref_radius = relu.chebyshev_center(A, c)
        if center.shape != (2,):
            raise GradingError(f"for {name} the centre should have 2 coordinates; got {center.shape}")
        norms = np.linalg.norm(A, axis=1)
        plain = linprog(np.r_[-1.0, 0, 0], A_ub=np.hstack([np.ones((len(c), 1)), A]), b_ub=c,
                        bounds=[(None, None)] * 3, method="highs")
        hints = [(-plain.fun, "the factor ||a_i|| is missing in a_i x + r ||a_i|| <= c_i")] if plain.status == 0 else []
        if name.startswith("an empty") and abs(radius) < 1e-9:
            hints.append((0.0, "the radius is restricted to r >= 0: keep it free, a negative radius says the cell is empty"))
        judge.close_number(radius, ref_radius, "the radius", rtol=1e-6, atol=1e-7, case=name, hints=hints)
        if np.any(A @ center + radius * norms > c + 1e-6):
            raise GradingError(f"for {name} the ball of radius {radius:.4f} around {np.round(center, 4)} leaves the "
                               "polygon: the centre is not the LP's optimum")


def _algorithm2(layers, a, b):
    """The walk exactly as the exercise states it (Algorithm 2 with hi reset after each record)."""
    pattern = lambda x: relu.activation_patterns(layers, x[None]).numpy()[0]
    left, target = pattern(a), pattern(b)
    lo, hi, deltas, evals = 0.0, 1.0, [], 0
    while np.count_nonzero(left != target) > 1 and evals < 100_000:
        evals += 1
        mid = (lo + hi) / 2
        s = pattern(a + mid * (b - a))
        d = np.count_nonzero(s != left)
        if d == 0:
            lo = mid
        elif d == 1:
            deltas.append(mid)
            left, lo, hi = s, mid, 1.0
        else:
            hi = mid
    return np.array(deltas)


@checker(points=2, target="walk", forbid=[R + "bisection_walk"], time_limit=10)
def check_walk(ask, seed):
    """Algorithm 2's samples: each step crosses one wall, and none of the crossed walls is skipped."""
    rng = np.random.default_rng(seed)
    layers = _net((2, 8, 8, 1), rng)
    angles = rng.uniform(0, 2 * np.pi, 2)
    for angle in angles:  # segments through the middle of the cells, each crossing several walls
        a = 1.5 * np.array([np.cos(angle), np.sin(angle)])
        b = -a + rng.uniform(-0.2, 0.2, 2)
        case = f"the segment from {np.round(a, 3)} to {np.round(b, 3)}"
        try:
            got = ask("answer(layers, a.copy(), b.copy())", case=case, layers=layers, a=a, b=b)
        except Unanswered as error:
            if "time limit" in str(error):
                raise GradingError(f"{error}. Likely cause: after recording a crossing, hi must be reset to 1, or "
                                   "the bisection can never reach the next wall") from None
            raise
        deltas = judge.array(got, "deltas").reshape(-1)
        ref = _algorithm2(layers, a, b)
        if np.any(deltas <= 0) or np.any(deltas >= 1) or np.any(np.diff(deltas) <= 0):
            raise GradingError(f"for {case}: deltas must increase strictly and lie in (0, 1), without the end points "
                               f"0 and 1; got {np.round(deltas, 4)}")
        pts = a + np.r_[0.0, deltas, 1.0][:, None] * (b - a)
        S = relu.activation_patterns(layers, pts).numpy()
        steps = np.count_nonzero(S[1:] != S[:-1], axis=1)
        if np.any(steps != 1):
            k = int(np.flatnonzero(steps != 1)[0])
            raise GradingError(f"for {case}: samples {k} and {k + 1} (counting a as 0) differ in {steps[k]} bits; "
                               "each step must cross exactly one wall (Hamming distance 1)")
        if len(deltas) != len(ref) or not np.allclose(deltas, ref, rtol=0, atol=1e-9):
            raise GradingError(f"for {case}: every step crosses one wall, but these are not the samples of Algorithm 2 "
                               f"as the exercise states it: expected {len(ref)} deltas {judge.show(ref)}, got "
                               f"{len(deltas)} {judge.show(deltas)} (bisect from the last recorded sample with hi reset "
                               "to 1; b itself is not a delta)")
