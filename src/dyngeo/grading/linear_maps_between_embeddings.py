"""Checkers for the exercise set "One detector for many networks" (``exercises/10-linear-maps-between-embeddings``).

Embeddings are rows, maps are ``[d_B, d_A]``. Expected values come from ``dyngeo.geometry.embeddings``
(checked against ``numpy.linalg.lstsq`` in ``tests/test_embeddings.py``), from closed-form gradients and
from scikit-learn; the library functions that answer an exercise are switched off while the answers run.
"""

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from ..geometry import embeddings as E
from . import GradingError, checker, judge

__all__ = ["check_least_squares_map", "check_ridge_map", "check_fgsm_attack", "check_auroc", "check_mapped_auroc",
           "check_fourier_features"]

E_ = "dyngeo.geometry.embeddings."
MAPS = [E_ + "fit_linear_map", E_ + "cross_network_detection"]
LSTSQ = MAPS + ["numpy.linalg.lstsq", "scipy.linalg.lstsq", "scipy.linalg._basic.lstsq", "torch.linalg.lstsq"]
RIDGE = MAPS + ["sklearn.linear_model.Ridge.fit", "sklearn.linear_model.ridge_regression"]
ATTACKS = ["dyngeo.attacks.gradient.fgsm", "dyngeo.attacks.gradient.pgd", "torchattacks.attacks.fgsm.FGSM.forward",
           "torchattacks.attacks.pgd.PGD.forward"]
AUC = [E_ + "cross_network_detection", "sklearn.metrics.roc_auc_score", "sklearn.metrics._ranking.roc_auc_score",
       "sklearn.metrics.roc_curve", "sklearn.metrics._ranking.roc_curve"]
FOURIER = [E_ + "fourier_features"]


def _centred_map(XA, XB):
    return E.fit_linear_map(XA - XA.mean(0), XB - XB.mean(0))


def _close_map(got, want, what, case, hints):
    """judge.close for a map, naming a transposed answer (d_A × d_B instead of d_B × d_A) first."""
    g = judge.array(got, f"{what} ({case})")
    if g.shape == want.T.shape and g.shape != want.shape and np.allclose(g, want.T, rtol=1e-6, atol=1e-8):
        raise GradingError(f"{what} for {case} has shape {g.shape}: it is the transpose of the expected map. M maps "
                           f"rows of XA to rows of XB through XA @ M.T, so it is d_B × d_A = {want.shape}")
    if g.shape != want.shape:
        cause = next((c for alt, c in hints if alt.shape == g.shape and np.allclose(g, alt, rtol=1e-6, atol=1e-8)), "")
        if cause:
            raise GradingError(f"{what} for {case} has shape {g.shape}, expected {want.shape}. Likely cause: {cause}")
    judge.close(g, want, what, rtol=1e-6, atol=1e-8, case=case, hints=hints)


@checker(points=2, target="least_squares_map", forbid=LSTSQ)
def check_least_squares_map(ask, seed):
    """A planted map recovered exactly; a noisy overdetermined fit against numpy.linalg.lstsq; the minimum-norm
    solution when m < d_A."""
    rng = np.random.default_rng(seed)
    XA = rng.normal(size=(50, 6))
    M_true = rng.normal(size=(4, 6))
    XA2, XB2 = rng.normal(size=(40, 5)) + rng.normal(size=5), rng.normal(size=(40, 5))
    XA3, XB3 = rng.normal(size=(5, 12)), rng.normal(size=(5, 3))
    cases = [("a planted map, 50 samples, d_A = 6, d_B = 4", XA, XA @ M_true.T, M_true),
             ("noisy embeddings, 40 samples, d_A = d_B = 5", XA2, XB2, np.linalg.lstsq(XA2, XB2, rcond=None)[0].T),
             ("5 samples, d_A = 12 (underdetermined)", XA3, XB3, np.linalg.lstsq(XA3, XB3, rcond=None)[0].T)]
    for case, A, B, want in cases:
        got = ask("answer(XA.copy(), XB.copy())", case=case, XA=A, XB=B)
        hints = [(np.linalg.lstsq(B, A, rcond=None)[0].T, "this is the map from B to A; map XA onto XB"),
                 (np.linalg.lstsq(B, A, rcond=None)[0], "this is the transpose of the map from B to A; map XA onto XB"),
                 (_centred_map(A, B), "the embeddings were centred (an intercept was fitted); eq. (2) has none")]
        if A.shape[0] < A.shape[1]:
            g = judge.array(got, f"the map ({case})")
            if g.shape == want.shape and np.allclose(A @ g.T, B, atol=1e-8) and not np.allclose(g, want, atol=1e-8):
                raise GradingError(f"the map for {case} fits the samples exactly but is not the one of smallest norm "
                                   f"(‖M‖ = {np.linalg.norm(g):.4g}, the minimum is {np.linalg.norm(want):.4g}). Likely "
                                   "cause: a particular solution; the pseudo-inverse gives the minimum-norm one")
        _close_map(got, want, "the map M", case, hints)


@checker(points=2, target="ridge_map", forbid=RIDGE)
def check_ridge_map(ask, seed):
    """The closed form (XAᵀXA + λI)⁻¹XAᵀXB, transposed, for m > d_A and m < d_A and several λ."""
    rng = np.random.default_rng(seed)
    for m, d, k, lam in [(30, 6, 3, 0.5), (8, 20, 4, 2.0), (25, 5, 5, 10.0)]:
        A, B = rng.normal(size=(m, d)), rng.normal(size=(m, k))
        case = f"{m} samples, d_A = {d}, d_B = {k}, λ = {lam}"
        got = ask("answer(XA.copy(), XB.copy(), lam)", case=case, XA=A, XB=B, lam=lam)
        want = E.fit_linear_map(A, B, ridge=lam)
        hints = [(E.fit_linear_map(A, B, ridge=lam * m), "λ was multiplied by the number of samples (a mean loss); "
                  "the penalty here goes with the summed squared error"),
                 (E.fit_linear_map(A, B, ridge=lam / m), "λ was divided by the number of samples"),
                 (np.linalg.solve(A.T @ A + lam, A.T @ B).T, "λ was added to every entry of XAᵀXA; add λ times the "
                  "identity"),
                 (E.fit_linear_map(A, B), "this is the least-squares map without the penalty"),
                 (E.fit_linear_map(A - A.mean(0), B - B.mean(0), ridge=lam), "the embeddings were centred (an "
                  "intercept was fitted); this map has none")]
        if m >= d:
            hints.append((np.linalg.solve(A.T @ A + lam ** 2 * np.eye(d), A.T @ B).T, "λ² was used instead of λ"))
        _close_map(got, want, "the ridge map", case, hints)


MODELS = {"a linear softmax model": "model = lambda x: x @ W.T + c",
          "a two-layer tanh network": "model = lambda x: torch.tanh(x @ W.T + c) @ V.T"}


def _fgsm_case(rng, B, D, K):
    x = rng.random((B, D))
    x[rng.random((B, D)) < 0.2] = 0.0
    x[rng.random((B, D)) < 0.2] = 1.0
    return torch.tensor(x), torch.tensor(rng.integers(0, K, B))


def _input_gradient(name, W, c, V, x, y):
    """∇_x of the mean cross-entropy: in closed form for the linear model, by autograd for the other."""
    if name == "a linear softmax model":
        p = torch.softmax(x @ W.T + c, 1)
        return (p - torch.nn.functional.one_hot(y, W.shape[0]).double()) @ W / x.shape[0]
    xg = x.clone().requires_grad_(True)
    loss = torch.nn.functional.cross_entropy(torch.tanh(xg @ W.T + c) @ V.T, y)
    return torch.autograd.grad(loss, xg)[0]


@checker(points=2, target="fgsm_attack", forbid=ATTACKS)
def check_fgsm_attack(ask, seed):
    """Inside the ε-ball and [0, 1], along the sign of an independently computed gradient (closed form for a
    linear softmax model), on pixels that sit at 0 and 1."""
    rng = np.random.default_rng(seed)
    for (name, code), (D, K, H, eps) in zip(MODELS.items(), [(12, 4, 0, 0.1), (9, 3, 7, 0.25)]):
        W = torch.tensor(rng.normal(size=(H or K, D)))
        c = torch.tensor(rng.normal(size=H or K))
        V = torch.tensor(rng.normal(size=(K, H or K)))
        x, y = _fgsm_case(rng, 6, D, K)
        case = f"{name}, ε = {eps}"
        got = torch.as_tensor(judge.array(ask(code + "\nresult = answer(model, x.clone(), y.clone(), eps)", case=case,
                                              W=W, c=c, V=V, x=x, y=y, eps=eps), f"the adversarial batch ({case})",
                                          shape=tuple(x.shape)))
        g = _input_gradient(name, W, c, V, x, y)
        want = (x + eps * g.sign()).clamp(0, 1)
        hints = [((x - eps * g.sign()).clamp(0, 1), "the step goes down the loss: FGSM adds ε·sign(∇J), it ascends"),
                 (x + eps * g.sign(), "the result was not clipped into [0, 1]"),
                 ((x + eps * g).clamp(0, 1), "the step follows the gradient itself; FGSM takes its sign"),
                 ((x + eps * g / g.norm()).clamp(0, 1), "the step follows the normalised gradient; FGSM takes its sign")]
        if (got - x).abs().max() > eps + 1e-7:
            cause = next((c_ for alt, c_ in hints if torch.allclose(got, alt, atol=1e-9)), "")
            raise GradingError(f"the adversarial batch for {case} leaves the ε-ball: max |x_adv - x| = "
                               f"{(got - x).abs().max():.4g} > ε = {eps}" + (f". Likely cause: {cause}" if cause else ""))
        if got.min() < 0 or got.max() > 1:
            raise GradingError(f"the adversarial batch for {case} has pixels outside [0, 1] (from {got.min():.3g} to "
                               f"{got.max():.3g}). Likely cause: the result was not clipped into [0, 1]")
        judge.close(got, want, "the adversarial batch", rtol=0, atol=1e-9, case=case, hints=hints)


def _scores(rng, n0, n1, ties):
    s = np.r_[rng.normal(size=n0), rng.normal(0.8, 1, n1)]
    return np.round(s, 0) if ties else s, np.r_[np.zeros(n0, int), np.ones(n1, int)]


@checker(points=2, target="auroc", forbid=AUC)
def check_auroc(ask, seed):
    """The Mann-Whitney AUROC against sklearn's roc_auc_score: unequal class sizes, shuffled order, ties."""
    rng = np.random.default_rng(seed)
    for case, (n0, n1, ties) in {"40 clean, 25 adversarial scores": (40, 25, False),
                                 "scores rounded to integers (many ties)": (30, 30, True),
                                 "12 clean, 50 adversarial scores": (12, 50, False)}.items():
        s, y = _scores(rng, n0, n1, ties)
        p = rng.permutation(len(y))
        s, y = s[p], y[p]
        want = roc_auc_score(y, s)
        diff = s[y == 1][:, None] - s[y == 0][None, :]
        got = ask("answer(scores.copy(), labels.copy())", case=case, scores=s, labels=y)
        judge.close_number(got, want, "the AUROC", rtol=1e-6, atol=1e-9, case=case,
                           hints=[(1 - want, "the classes are swapped: a larger score means adversarial (label 1)"),
                                  (float((diff > 0).mean()), "tied scores counted as losses; a tie counts one half"),
                                  (float((diff >= 0).mean()), "tied scores counted as wins; a tie counts one half"),
                                  (float(((s > np.median(s)) == y).mean()), "this is an accuracy at one threshold, "
                                   "not the area under the whole ROC curve")])


def _rotated(rng, d_t, d_s, n_map, n_val, shift=1.2, noise=0.5):
    """Target embeddings, adversarial ones shifted along u; the source a rotated, rescaled copy plus noise."""
    u = rng.normal(size=d_t)
    u /= np.linalg.norm(u)

    def draw(n):
        y = np.r_[np.zeros(n), np.ones(n)].astype(int)
        return rng.normal(size=(2 * n, d_t)) + shift * y[:, None] * u, y

    R = np.linalg.qr(rng.normal(size=(d_s, d_s)))[0][:, :d_t] * rng.uniform(0.5, 2, d_t)
    (Tm, _), (Tv, yv) = draw(n_map), draw(n_val)
    Sm = Tm @ R.T + noise * rng.normal(size=(2 * n_map, d_s))
    Sv = Tv @ R.T + noise * rng.normal(size=(2 * n_val, d_s))
    return u, Sm, Tm, Sv, Tv, yv


@checker(points=2, target="mapped_auroc", forbid=[E_ + "cross_network_detection"])
def check_mapped_auroc(ask, seed):
    """Algorithm 1's score on synthetic rotated embeddings against the library (map, scores, roc_auc_score); a
    source equal to the target gives back the native AUROC."""
    rng = np.random.default_rng(seed)
    for case, (d_t, d_s) in {"a rotated source, d_S = d_T = 6": (6, 6), "a wider source, d_S = 10, d_T = 4": (4, 10),
                             "the target mapped onto itself": (5, 5)}.items():
        u, Sm, Tm, Sv, Tv, yv = _rotated(rng, d_t, d_s, 60, 80)
        if case.startswith("the target"):
            Sm, Sv = Tm, Tv
        w, b = u + 0.3 * rng.normal(size=d_t), -0.6
        got = ask("answer(w.copy(), b, XS_map.copy(), XT_map.copy(), XS_val.copy(), y_val.copy())", case=case,
                  w=w, b=b, XS_map=Sm, XT_map=Tm, XS_val=Sv, y_val=yv)
        M = E.fit_linear_map(Sm, Tm)
        want = roc_auc_score(yv, E.apply_map(M, Sv) @ w + b)
        hints = [(1 - want, "the scores are reversed: a larger w·z + b means adversarial (label 1)"),
                 (roc_auc_score(yv, E.apply_map(E.fit_linear_map(Sv, Tv), Sv) @ w + b),
                  "the map was fitted on the val rows; fit it on the map rows only"),
                 (roc_auc_score(yv, E.apply_map(_centred_map(Sm, Tm), Sv) @ w + b),
                  "the map was fitted on centred embeddings (an intercept) but applied without it")]
        if d_s == d_t:
            hints.append((roc_auc_score(yv, Sv @ w + b), "the source embeddings were scored without mapping them"))
        judge.close_number(got, want, "the mapped AUROC", rtol=1e-6, atol=1e-9, case=case, hints=hints)
        if case.startswith("the target"):
            native = roc_auc_score(yv, Tv @ w + b)
            if abs(judge.number(got, "the AUROC") - native) > 1e-6:
                raise GradingError("mapping the target onto itself must give back the native AUROC")


@checker(points=2, target="fourier_features", forbid=FOURIER)
def check_fourier_features(ask, seed):
    """Magnitude and phase of np.fft.rfft along each row, for even and odd d; magnitudes unchanged by a circular
    shift; phases within [-π, π]."""
    rng = np.random.default_rng(seed)
    for N, d in [(5, 8), (4, 11)]:
        X = rng.normal(size=(N, d))
        for kind in ("magnitude", "phase"):
            case = f"{N} embeddings of dimension {d}, {kind}"
            F = np.fft.rfft(X, axis=1)
            want = np.abs(F) if kind == "magnitude" else np.angle(F)
            got = judge.array(ask("answer(X.copy(), kind)", case=case, X=X, kind=kind), f"the features ({case})")
            if got.shape == (N, d):
                raise GradingError(f"the features for {case} have shape {got.shape}: one per entry. Likely cause: the "
                                   f"full FFT; the real FFT of a real row keeps d // 2 + 1 = {d // 2 + 1} frequencies "
                                   "(np.fft.rfft)")
            hints = [(np.abs(np.fft.rfft(X, axis=0)) if kind == "magnitude" else np.angle(np.fft.rfft(X, axis=0)),
                      "the transform ran down the columns; transform each embedding (row), axis=1")]
            if kind == "magnitude":
                hints += [(np.abs(F) ** 2, "this is the power spectrum |F|²; take the magnitude |F|"),
                          (np.abs(np.fft.rfft(X, axis=1, norm="ortho")), "the transform was normalised; use NumPy's "
                           "default (no factor)")]
            else:
                hints += [(np.degrees(want), "the phase is in degrees; give radians"),
                          (np.arctan(F.imag / np.where(F.real == 0, 1, F.real)),
                           "arctan(imag / real) loses the quadrant; use np.angle (arctan2)")]
            judge.close(got, want, "the features", rtol=1e-7, atol=1e-9, case=case, hints=hints)
            if kind == "phase" and np.abs(got).max() > np.pi + 1e-9:
                raise GradingError(f"a phase for {case} lies outside [-π, π]")
    X = rng.normal(size=(3, 10))
    got = judge.sequence(ask("[answer(X, 'magnitude'), answer(np.roll(X, 3, axis=1), 'magnitude')]",
                             case="a circular shift by 3", X=X), "the two answers", 2)
    judge.close(judge.array(got[1], "the magnitudes of the shifted rows"), judge.array(got[0], "the magnitudes"),
                "the magnitudes after a circular shift of every row (they must not change)", atol=1e-9,
                case="a circular shift by 3")
