"""Checkers for the exercise set "Schubert varieties of best fit" (``exercises/08-schubert-varieties``).

Subspaces are given as NumPy matrices whose columns span them (not necessarily orthonormal). The
expected values come from ``dyngeo.geometry.subspaces``, whose functions that answer an exercise are
switched off while the student's answers run, as is SciPy's ``subspace_angles``.
"""

import numpy as np
import torch

from ..geometry import subspaces as sv
from . import GradingError, checker, judge

__all__ = ["check_principal_angles", "check_manifold_dimension", "check_chordal_distance", "check_schubert_distance",
           "check_fit_one_column", "check_mm_step"]

S = "dyngeo.geometry.subspaces."
ANGLES = [S + "principal_angles", S + "grassmann_distance", S + "schubert_distance", "scipy.linalg.subspace_angles",
          "scipy.linalg._decomp_svd.subspace_angles"]
DIMENSIONS = [S + "dim_grassmann", S + "dim_stiefel", S + "dim_flag", S + "dim_orthogonal"]
FITS = [S + "flag_mean", S + "svbf_mm", S + "_polar", S + "svbf_adam", S + "flag_median", S + "svbf_coordinates", S + "alg2_fit",
        S + "alg3_fit"]


def _angles(X, Y):
    return sv.principal_angles(torch.as_tensor(X), torch.as_tensor(Y)).numpy()


def _naive_angles(X, Y):
    """Angles from the cosines of the raw matrices, without orthonormalising first (a mistake)."""
    s = np.linalg.svd(X.T @ Y, compute_uv=False)[: min(X.shape[1], Y.shape[1])]
    return np.arccos(np.clip(s, -1, 1))


def _pairs(rng):
    """(case, X, Y): random spans of several sizes, not orthonormal, and a pair sharing a direction."""
    cases = []
    for n, l, k in [(8, 3, 3), (10, 2, 4), (12, 4, 2), (6, 1, 3)]:
        cases.append((f"random spans in R^{n}, l = {l}, k = {k}", rng.normal(size=(n, l)) * rng.uniform(0.5, 3),
                      rng.normal(size=(n, k))))
    shared = rng.normal(size=(9, 1))
    X = np.hstack([shared, rng.normal(size=(9, 2))]) @ rng.normal(size=(3, 3))
    Y = np.hstack([rng.normal(size=(9, 2)), 2 * shared])
    cases.append(("two 3-dimensional spans of R^9 sharing one direction", X, Y))
    return cases


@checker(points=2, target="principal_angles", forbid=ANGLES)
def check_principal_angles(ask, seed):
    """Ascending angles against SciPy's (reversed), on bases that are not orthonormal; invariance to X -> XQ."""
    rng = np.random.default_rng(seed)
    for case, X, Y in _pairs(rng):
        got = judge.array(ask("answer(X.copy(), Y.copy())", case=case, X=X, Y=Y), f"the angles ({case})")
        want = _angles(X, Y)
        if got.size == want.size and got.shape != want.shape:
            got = got.reshape(want.shape)
        judge.close(got, want, "the principal angles", rtol=1e-6, atol=1e-6, case=case,
                    hints=[(want[::-1].copy(), "the angles are in descending order (as SciPy returns them); the "
                            "paper and this exercise want them ascending, θ_1 the smallest"),
                           (np.cos(want), "these are the cosines (the singular values); take their arccos"),
                           (np.degrees(want), "these are degrees; return radians"),
                           (_naive_angles(X, Y), "the columns were not orthonormalised first: the singular values "
                            "of XᵀY are cosines only for orthonormal bases (use np.linalg.qr or scipy.linalg.orth)")])
    X, Y = rng.normal(size=(7, 3)), rng.normal(size=(7, 3))
    Q = np.linalg.qr(rng.normal(size=(3, 3)))[0]
    got = ask("[np.asarray(answer(X.copy(), Y.copy()), dtype=float), np.asarray(answer(X @ Q, Y), dtype=float)]",
              case="X and XQ", X=X, Y=Y, Q=Q)
    a, b = (judge.array(v, "the angles") for v in judge.sequence(got, "the two answers", 2))
    judge.close(b, a, "the angles after X -> XQ (they must not change)", rtol=1e-6, atol=1e-7,
                case="a 3-dimensional span of R^7 and a rotated basis of it")


def _dimension(kind, l, n):
    if kind == "grassmann":
        return sv.dim_grassmann(l, n)
    if kind == "stiefel":
        return sv.dim_stiefel(l, n)
    return sv.dim_flag(list(l), n)


def _dimension_cases(rng):
    cases = [("flag", (1, 2), 4), ("grassmann", 1, 3)]
    for _ in range(3):
        n = int(rng.integers(5, 12))
        cases.append(("grassmann", int(rng.integers(1, n)), n))
        cases.append(("stiefel", int(rng.integers(1, n + 1)), n))
        m = int(rng.integers(1, min(4, n - 1) + 1))
        cases.append(("flag", tuple(sorted(int(v) for v in rng.choice(np.arange(1, n), size=m, replace=False))), n))
    return cases


@checker(points=2, target="manifold_dimension", forbid=DIMENSIONS)
def check_manifold_dimension(ask, seed):
    """dim Gr(l, n), ST(l, n) and FL(l_1, ..., l_m; n) on a drawn table, FL(1, 2; 4) = 5 among them."""
    rng = np.random.default_rng(seed)
    for kind, l, n in _dimension_cases(rng):
        name = f"FL({', '.join(map(str, l))}; {n})" if kind == "flag" else f"{kind[0].upper()}{'r' if kind == 'grassmann' else 'T'}({l}, {n})"
        got = ask("answer(kind, l if isinstance(l, int) else list(l), n)", case=name, kind=kind,
                  l=l if isinstance(l, int) else list(l), n=n)
        value = judge.number(got, f"the dimension of {name}", integer=True)
        want = _dimension(kind, l, n)
        if value == want:
            continue
        cause = ""
        if kind == "grassmann" and value == l * n:
            cause = "l·n counts every entry of an n×l matrix; a subspace forgets its basis: l(n - l)"
        elif kind == "stiefel" and value == l * n:
            cause = "l·n counts every entry; the l(l+1)/2 conditions XᵀX = I remove that many: (n-1) + ... + (n-l)"
        elif kind == "stiefel" and value == sv.dim_grassmann(l, n):
            cause = "that is the Grassmannian's; a frame also remembers its basis (add dim O(l))"
        elif kind == "flag":
            blocks_wrong = sv.dim_orthogonal(n) - sum(sv.dim_orthogonal(v) for v in l) - sv.dim_orthogonal(n - l[-1])
            if value == blocks_wrong:
                cause = ("the orthogonal groups to subtract are those of the steps l_1, l_2 - l_1, ..., n - l_m, "
                         "not of the l_i themselves")
            elif value == sv.dim_orthogonal(n) - sum(sv.dim_orthogonal(b - a) for a, b in zip((0, *l), l)):
                cause = "the last block, O(n - l_m), is missing"
        raise GradingError(f"the dimension of {name}: expected {want}, got {value}" + (f". Likely cause: {cause}" if cause else ""))


def _chordal(X, Y):
    return float(np.linalg.norm(np.sin(_angles(X, Y))))


@checker(points=2, target="chordal_distance", forbid=ANGLES)
def check_chordal_distance(ask, seed):
    """||sin Θ||_2 between two l-dimensional spans, on bases that are not orthonormal."""
    rng = np.random.default_rng(seed)
    for n, l in [(6, 2), (10, 3), (5, 1)]:
        X, Y = rng.normal(size=(n, l)), rng.normal(size=(n, l)) * 2
        case = f"two {l}-dimensional spans of R^{n}"
        got = ask("answer(X.copy(), Y.copy())", case=case, X=X, Y=Y)
        theta = _angles(X, Y)
        Qx, Qy = np.linalg.qr(X)[0], np.linalg.qr(Y)[0]
        judge.close_number(got, _chordal(X, Y), "the chordal distance", rtol=1e-6, atol=1e-8, case=case,
                           hints=[(float(np.linalg.norm(theta)), "this is the geodesic distance ||Θ||; the chordal one "
                                   "is ||sin Θ||"),
                                  (float(np.sum(np.sin(theta) ** 2)), "the square root is missing"),
                                  (float(np.sum(np.sin(theta))), "this is the sum of the sines; take the 2-norm"),
                                  (float(np.linalg.norm(Qx - Qy)), "||X - Y|| depends on the bases chosen, not only "
                                   "on the subspaces: use the principal angles"),
                                  (float(np.linalg.norm(np.sin(_naive_angles(X, Y)))), "the columns were not "
                                   "orthonormalised first")])
    E = np.eye(4)
    got = ask("answer(X, Y)", case="span(e1, e2) and span(e3, e4)", X=E[:, :2] * 3, Y=E[:, 2:])
    judge.close_number(got, np.sqrt(2), "the chordal distance", case="span(e1, e2) and span(e3, e4)")


def _planted(rng, n, l, k, c):
    W = rng.normal(size=(n, k))
    V = np.hstack([W @ rng.normal(size=(k, c)), rng.normal(size=(n, l - c))]) @ rng.normal(size=(l, l))
    return V, W


@checker(points=2, target="schubert_distance", forbid=ANGLES)
def check_schubert_distance(ask, seed):
    """||sin Θ_c||_2 with the c smallest angles: zero on the variety, and the right value off it."""
    rng = np.random.default_rng(seed)
    for n, l, k, c in [(10, 3, 4, 1), (10, 3, 4, 2), (12, 4, 3, 3)]:
        V, W = _planted(rng, n, l, k, c)
        case = f"V (l = {l}) meeting W (k = {k}) in {c} dimension(s), c = {c}"
        got = ask("answer(V.copy(), W.copy(), c)", case=case, V=V, W=W, c=c)
        judge.close_number(got, 0.0, "the distance to the Schubert variety", atol=1e-6, case=case,
                           hints=[(float(np.linalg.norm(np.sin(_angles(V, W)))), "all the angles are used; only the "
                                   "c smallest count"),
                                  (float(np.linalg.norm(np.sin(_angles(V, W)[::-1][:c]))), "these are the c largest "
                                   "angles; the variety is reached when the c smallest vanish")])
    for n, l, k, c in [(9, 3, 3, 1), (9, 3, 3, 2), (11, 2, 4, 2), (11, 4, 2, 1)]:
        V, W = rng.normal(size=(n, l)), rng.normal(size=(n, k))
        case = f"random V (l = {l}) and W (k = {k}) in R^{n}, c = {c}"
        got = ask("answer(V.copy(), W.copy(), c)", case=case, V=V, W=W, c=c)
        theta = _angles(V, W)
        judge.close_number(got, float(np.linalg.norm(np.sin(theta[:c]))), "the distance", rtol=1e-6, atol=1e-8, case=case,
                           hints=[(float(np.linalg.norm(np.sin(theta[::-1][:c]))), "these are the c largest angles; "
                                   "the variety is reached when the c smallest vanish"),
                                  (float(np.linalg.norm(theta[:c])), "this is ||Θ_c||; the exercise asks for ||sin Θ_c||"),
                                  (float(np.linalg.norm(np.sin(theta))), "all the angles are used; only the c smallest count"),
                                  (float(np.linalg.norm(np.sin(_naive_angles(V, W)[:c]))), "the columns were not "
                                   "orthonormalised first")])


def _sets(rng, r, n, l):
    """r bases [r, n, l] sharing a strong common direction, so the top eigenvalue is well separated."""
    u = rng.normal(size=n)
    Xs = []
    for _ in range(r):
        V = rng.normal(size=(n, l))
        V[:, 0] += 3 * u / np.linalg.norm(u) * np.sqrt(n)
        Xs.append(np.linalg.qr(V)[0])
    return np.stack(Xs)


@checker(points=2, target="fit_one_column", forbid=FITS)
def check_fit_one_column(ask, seed):
    """The k = 1 Schubert fit of eq. (3): a unit vector along the top eigenvector of Σ X_i X_iᵀ."""
    rng = np.random.default_rng(seed)
    for r, n, l in [(12, 8, 2), (20, 15, 3), (6, 5, 1)]:
        Xs = _sets(rng, r, n, l)
        case = f"{r} sets of l = {l} in R^{n}"
        got = judge.array(ask("answer(Xs.copy())", case=case, Xs=Xs), f"K ({case})")
        if got.size != n:
            raise GradingError(f"K should be one vector of R^{n} (shape ({n},) or ({n}, 1)); got shape {got.shape} ({case})")
        K = got.reshape(n)
        S = np.einsum("rnl,rml->nm", Xs, Xs)
        evals, evecs = np.linalg.eigh(S)
        top = evecs[:, -1]
        norm = float(np.linalg.norm(K))
        if abs(norm - 1) > 1e-6:
            along = abs(K @ top) / max(norm, 1e-300) > 1 - 1e-6
            raise GradingError(f"K should have length 1 (KᵀK = I); got length {norm:.6g} ({case})"
                               + (". It points the right way: normalise it" if along else ""))
        if abs(K @ top) < 1 - 1e-6:
            cause = ""
            if abs(K @ evecs[:, 0]) > 1 - 1e-6:
                cause = ". Likely cause: this is the eigenvector of the smallest eigenvalue (eigh sorts them ascending)"
            else:
                A = Xs.transpose(1, 0, 2).reshape(n, -1).T
                pc = np.linalg.svd(A - A.mean(0), full_matrices=False)[2][0]
                if abs(K @ pc) > 1 - 1e-6:
                    cause = (". Likely cause: the columns were centred (PCA); the objective measures angles "
                             "to subspaces through the origin, so no centring")
            objective = float(np.sum(np.einsum("rnl,n->rl", Xs, K) ** 2))
            raise GradingError(f"K is not the best single column ({case}): Σ cos² θ_1 = {objective:.6f}, the optimum is "
                               f"{evals[-1]:.6f}{cause}")


def _mm_reference(Xs, K, smallest=False, no_data=False):
    """One MM step of the chapter (eq. 3, c = 1); the variants are the mistakes the checker recognises."""
    M = np.einsum("rnl,nk->rlk", Xs, K)  # X_iᵀK
    B = np.linalg.svd(M)[2][:, -1 if smallest else 0, :]  # [r, k]
    KB = np.einsum("nk,rk->rn", K, B)
    if no_data:
        G = np.einsum("rn,rk->nk", KB, B)
    else:
        G = np.einsum("rnl,rml,rm,rk->nk", Xs, Xs, KB, B)
    U, _, Vt = np.linalg.svd(G, full_matrices=False)
    return U @ Vt, G


def _span_angle(A, B):
    return float(_angles(A, B).max())


@checker(points=2, target="mm_step", forbid=FITS)
def check_mm_step(ask, seed):
    """One majorise-minimise step: the span of the new K, its orthonormality, and the objective not falling."""
    rng = np.random.default_rng(seed)
    for r, n, l, k in [(10, 12, 3, 2), (8, 9, 2, 3), (15, 20, 4, 4)]:
        Xs = np.stack([np.linalg.qr(rng.normal(size=(n, l)))[0] for _ in range(r)])
        K = np.linalg.qr(rng.normal(size=(n, k)))[0]
        case = f"{r} sets of l = {l} in R^{n}, k = {k}"
        got = judge.array(ask("answer(Xs.copy(), K.copy())", case=case, Xs=Xs, K=K), f"the new K ({case})")
        if got.shape != (n, k):
            raise GradingError(f"the new K should have shape ({n}, {k}), like K; got {got.shape} ({case})")
        want, G = _mm_reference(Xs, K)
        error = float(np.linalg.norm(got.T @ got - np.eye(k)))
        if error > 1e-8:
            along = _span_angle(got, want) < 1e-6
            raise GradingError(f"the new K should have orthonormal columns; ||KᵀK - I|| = {error:.3g} ({case})"
                               + (". Its span is right: return the polar factor U Vᵀ of G = U Σ Vᵀ, not G itself"
                                  if along else ""))
        angle = _span_angle(got, want)
        if angle > 1e-6:
            cause = ""
            if _span_angle(got, _mm_reference(Xs, K, smallest=True)[0]) < 1e-6:
                cause = ". Likely cause: b_i must be the top right singular vector of X_iᵀK (the largest cosine)"
            elif _span_angle(got, K) < 1e-6:
                cause = (". Likely cause: the new K spans the old one; G must carry the data, "
                         "G = Σ X_i X_iᵀ K b_i b_iᵀ")
            raise GradingError(f"the new K spans a different subspace from one MM step's: it is {np.degrees(angle):.3g}° "
                               f"away ({case}){cause}")
