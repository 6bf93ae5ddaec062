"""Checkers for the exercise set "Representational geometry: RDMs from the brain" (``exercises/09-fmri-rdms``).

Stimuli are rows. Expected values come from ``dyngeo.geometry.rsa``, whose functions that answer an
exercise are switched off while the student's answers run, as are SciPy's ``pdist``/``cdist`` (exercise 1)
and ``spearmanr`` (exercise 2).
"""

import numpy as np
import scipy.linalg
import scipy.optimize
import scipy.stats

from ..geometry import rsa
from . import GradingError, checker, judge

__all__ = ["check_correlation_rdm", "check_rdm_similarity", "check_fiedler", "check_partition_accuracy",
           "check_category_weights"]

R_ = "dyngeo.geometry.rsa."
RDM = [R_ + "rdm", "scipy.spatial.distance.pdist", "scipy.spatial.distance.cdist"]
COMPARE = [R_ + "compare_rdms", R_ + "rdm_bootstrap_pvalue", R_ + "best_layer", "scipy.stats.spearmanr",
           "scipy.stats._stats_py.spearmanr"]
FIEDLER = [R_ + "fiedler_vector", R_ + "laplacian", R_ + "fiedler_partition", R_ + "fiedler_accuracy",
           R_ + "printed_fiedler_accuracy"]
ACCURACY = [R_ + "partition_accuracy", R_ + "fiedler_accuracy"]
NNLS = [R_ + "fit_categorical_model", R_ + "categorical_rdms"]


def _patterns(rng, m, n):
    """Patterns with their own offsets and scales per stimulus (so centring matters)."""
    return rng.normal(size=(m, n)) * rng.uniform(0.5, 2, (m, 1)) + rng.normal(0, 3, (m, 1))


def _dist(Z):
    Z = Z / np.linalg.norm(Z, axis=1, keepdims=True)
    R = 1 - Z @ Z.T
    np.fill_diagonal(R, 0)
    return R


@checker(points=2, target="correlation_rdm", forbid=RDM)
def check_correlation_rdm(ask, seed):
    """The m × m RDM of eq. (2) against scipy's pdist(V, 'correlation'), on patterns with offsets, m ≠ n."""
    rng = np.random.default_rng(seed)
    for m, n in [(7, 12), (15, 5), (4, 30)]:
        V = _patterns(rng, m, n)
        case = f"{m} stimuli × {n} features"
        got = ask("answer(V.copy())", case=case, V=V)
        want = rsa.rdm(V)
        g = judge.array(got, f"the RDM ({case})")
        if g.shape == (n, n) and n != m:
            raise GradingError(f"the RDM for {case} has shape {g.shape}: one row per feature. Likely cause: the "
                               "stimuli are the rows of V (np.corrcoef(V), not np.corrcoef(V.T); or axis=1)")
        judge.close(g, want, "the RDM", rtol=1e-6, atol=1e-8, case=case,
                    hints=[(1 - want, "this is the correlation, not the dissimilarity 1 - correlation"),
                           (_dist(V), "the rows were not centred on their own means: that is the cosine distance"),
                           (_dist(V - V.mean(0)), "the features were centred across stimuli (column means); eq. (2) "
                            "centres each stimulus's pattern on its own mean"),
                           (np.sqrt(((V[:, None] - V[None]) ** 2).sum(-1)), "this is the Euclidean distance")])


def _rdm_pair(rng, m):
    y = rng.integers(0, 3, m)
    y[:3] = [0, 1, 2]
    R1 = rsa.rdm(_patterns(rng, m, 10) + 2 * np.eye(3)[y] @ rng.normal(size=(3, 10)))
    return R1, rsa.categorical_rdms(y)[0] + rsa.categorical_rdms(y)[1]


def _rank_no_ties(x):
    r = np.empty(len(x))
    r[np.argsort(x, kind="stable")] = np.arange(len(x))
    return r


@checker(points=2, target="rdm_similarity", forbid=COMPARE)
def check_rdm_similarity(ask, seed):
    """Spearman's ρ of the strict upper triangles (eq. 4), with ties (a categorical model), and a permutation."""
    rng = np.random.default_rng(seed)
    for m in (12, 20):
        R1 = rsa.rdm(_patterns(rng, m, 8))
        R2 = 0.5 * R1 + 0.5 * rsa.rdm(_patterns(rng, m, 8))
        Rc, Rt = _rdm_pair(rng, m)
        for case, A, B in [(f"two {m}-stimulus RDMs", R1, R2), (f"a brain RDM and a categorical model with ties, m = {m}", Rc, Rt)]:
            got = ask("answer(A.copy(), B.copy())", case=case, A=A, B=B)
            a, b = rsa.upper(A), rsa.upper(B)
            judge.close_number(got, rsa.compare_rdms(A, B, "spearman"), "Spearman's rho", rtol=1e-6, atol=1e-9, case=case,
                               hints=[(rsa.compare_rdms(A, B, "pearson"), "this is Pearson's r; rank the entries first"),
                                      (scipy.stats.spearmanr(A.ravel(), B.ravel())[0], "the whole matrix was used; "
                                       "take only the strict upper triangle (the diagonal is 0 in both and every "
                                       "pair appears twice)"),
                                      (scipy.stats.spearmanr(A[np.triu_indices(m)], B[np.triu_indices(m)])[0],
                                       "the diagonal was included: use np.triu_indices(m, 1)"),
                                      (float(np.corrcoef(_rank_no_ties(a), _rank_no_ties(b))[0, 1]), "tied entries got "
                                       "different ranks (argsort of argsort); give ties their average rank "
                                       "(scipy.stats.rankdata)")])
    A, B = R1, R2
    p = rng.permutation(A.shape[0])
    got = ask("[answer(A, B), answer(A[np.ix_(p, p)], B[np.ix_(p, p)])]", case="a permutation of the stimuli",
              A=A, B=B, p=p)
    x, y = (judge.number(v, "rho") for v in judge.sequence(got, "the two answers", 2))
    judge.close_number(y, x, "rho after reordering the stimuli of both RDMs alike (it must not change)",
                       case="a permutation of the stimuli")


def _graph(rng, n, blocks=False):
    if blocks:
        y = np.r_[np.zeros(n // 2, int), np.ones(n - n // 2, int)][rng.permutation(n)]
        A = np.where(y[:, None] == y[None], 0.9, 0.1) + 0.05 * rng.random((n, n))
    else:
        y, A = None, rng.random((n, n))
    A = (A + A.T) / 2
    np.fill_diagonal(A, rng.random(n))  # self-loops must cancel
    return A, y


def _align(v, ref):
    s = np.sign(v @ ref)
    return v * (s if s != 0 else 1)


@checker(points=2, target="fiedler", forbid=FIEDLER)
def check_fiedler(ask, seed):
    """e₂ of L = D - A: unit norm, ⟂ 𝟙, L e₂ = λ₂ e₂ against scipy.linalg.eigh (up to sign); a two-block graph's split."""
    rng = np.random.default_rng(seed)
    for case, (A, y) in [("a random weighted graph, 9 nodes", _graph(rng, 9)),
                         ("a random weighted graph with self-loops, 14 nodes", _graph(rng, 14)),
                         ("a two-block graph, 16 nodes", _graph(rng, 16, True))]:
        got = judge.array(ask("answer(A.copy())", case=case, A=A), f"the Fiedler vector ({case})", shape=(len(A),))
        L = np.diag(A.sum(1)) - A
        vals, vecs = scipy.linalg.eigh(L)
        want = vecs[:, 1]
        ga = _align(got, want)
        hints = [(_align(vecs[:, 0], ga), "this is the first eigenvector (eigenvalue 0, constant): take the second"),
                 (_align(vecs[:, -1], ga), "this is the eigenvector of the largest eigenvalue; eigh sorts ascending, "
                  "the second-smallest is column 1"),
                 (_align(np.linalg.eigh(A)[1][:, -2], ga), "this is an eigenvector of A, not of L = D - A"),
                 (_align(np.linalg.eigh(A)[1][:, 1], ga), "this is an eigenvector of A, not of L = D - A"),
                 (_align(want * np.linalg.norm(A), ga), "e₂ should have unit length")]
        dinv = 1 / np.sqrt(A.sum(1))
        hints.append((_align(np.linalg.eigh(np.eye(len(A)) - dinv[:, None] * A * dinv)[1][:, 1], ga),
                      "this is the normalised Laplacian's; the paper uses L = D - A"))
        if abs(got @ np.ones(len(A))) > 1e-6 * np.sqrt(len(A)) and not np.allclose(np.abs(got), np.abs(got[0])):
            cause = next((c for alt, c in hints if np.allclose(ga, alt, atol=1e-6)), "")
            raise GradingError(f"the Fiedler vector for {case} is not orthogonal to the all-ones vector (e₂·𝟙 = "
                               f"{got.sum():.3g})" + (f". Likely cause: {cause}" if cause else ""))
        judge.close(ga, want, "the Fiedler vector (its sign is free)", rtol=1e-6, atol=1e-7, case=case,
                    hints=hints)
        if y is not None:
            part = got > 0
            if rsa.partition_accuracy(part, y) != 1.0:
                raise GradingError(f"the signs of e₂ do not split the two blocks ({case})")


@checker(points=2, target="partition_accuracy", forbid=ACCURACY)
def check_partition_accuracy(ask, seed):
    """The best match of a two-way split to two labels, for labels that are not 0/1 and splits given either way round."""
    rng = np.random.default_rng(seed)
    cases = [("a split that matches the labels exactly, parts named the other way round", np.array([1, 1, 1, 0, 0, 0], dtype=bool),
              np.array([3, 3, 3, 7, 7, 7]))]
    for n in (10, 25, 40):
        labels = rng.choice([2, 5], n)
        labels[:2] = [2, 5]
        part = (labels == 5) ^ (rng.random(n) < rng.uniform(0.1, 0.4))
        if rng.random() < 0.5:
            part = ~part
        cases.append((f"{n} stimuli with labels 2 and 5, a noisy split", part.astype(bool), labels))
    for case, part, labels in cases:
        got = ask("answer(part.copy(), labels.copy())", case=case, part=part, labels=labels)
        want = rsa.partition_accuracy(part, labels)
        agree = float(np.mean(part == (labels == labels.max())))
        judge.close_number(got, want, "the accuracy", rtol=1e-9, atol=1e-12, case=case,
                           hints=[(1.0, "1 for a split that is not perfect: either (|P1| + |P2|)/N, which counts every "
                                   "stimulus and is 1 for any split (the formula as printed), or the split was "
                                   "compared with the label values themselves, which are "
                                   f"{sorted(set(labels.tolist()))}, not 0 and 1, so nothing matches and "
                                   "max(agree, 1 - agree) = 1; count the stimuli whose part matches their label"),
                                  (agree if agree != want else -1, "only one way of naming the parts was counted; "
                                   "the sign of e₂ is arbitrary, so take the better of the two"),
                                  (want * len(part), "this is a count; divide by the number of stimuli"),
                                  (float(np.mean(part == labels)) if float(np.mean(part == labels)) != want else -1,
                                   "the split was compared with the label values themselves; the labels are "
                                   f"{sorted(set(labels.tolist()))}, not 0 and 1")])
    part, labels = cases[-1][1], cases[-1][2]
    got = ask("[answer(part, labels), answer(~part, labels)]", case="a split and its flip",
              part=part, labels=labels)
    a, b = (judge.number(v, "the accuracy") for v in judge.sequence(got, "the two answers", 2))
    judge.close_number(b, a, "the accuracy of the flipped split (it must not change)", case="a split and its flip")


def _planted(rng, m, C, noise):
    y = rng.integers(0, C, m)
    y[:C] = np.arange(C)
    w = rng.uniform(0.2, 1.5, C)
    w[rng.integers(C)] = 0.0
    R = np.tensordot(w, rsa.categorical_rdms(y, C), axes=1)
    if noise:
        E = noise * rng.normal(size=(m, m))
        R = R + (E + E.T) / 2
        np.fill_diagonal(R, 0)
    return y, w, R


@checker(points=2, target="category_weights", forbid=NNLS)
def check_category_weights(ask, seed):
    """Non-negative least squares of the upper triangle on the C binary category RDMs; planted weights recovered."""
    rng = np.random.default_rng(seed)
    for case, (y, w, R) in [("planted weights, no noise, 3 categories", _planted(rng, 30, 3, 0)),
                            ("planted weights, no noise, 5 categories", _planted(rng, 40, 5, 0)),
                            ("planted weights plus noise, 4 categories", _planted(rng, 36, 4, 0.6))]:
        got = ask("answer(labels.copy(), R.copy())", case=case, labels=y, R=R)
        want = rsa.fit_categorical_model(y, R, len(w))[0]
        C = len(w)
        iu = np.triu_indices(len(y), 1)
        D = np.stack([rsa.upper(Rc) for Rc in rsa.categorical_rdms(y, C)], 1)
        S = np.stack([rsa.upper(1 - Rc) for Rc in rsa.categorical_rdms(y, C)], 1)
        lstsq = np.linalg.lstsq(D, R[iu], rcond=None)[0]
        g = judge.array(got, f"the weights ({case})")
        if np.any(g < -1e-9):
            raise GradingError(f"the weights for {case} have a negative entry ({g.min():.3g}). Likely cause: plain "
                               "least squares; the weights must be non-negative (scipy.optimize.nnls)")
        judge.close(g, want, "the weights", rtol=1e-6, atol=1e-7, case=case,
                    hints=[(lstsq, "plain least squares; the weights must be non-negative (scipy.optimize.nnls)"),
                           (scipy.optimize.nnls(S, R[iu])[0], "the category RDMs were built as similarities (1 within a "
                            "category); R_c is 0 for pairs inside category c and 1 for every other pair")])
