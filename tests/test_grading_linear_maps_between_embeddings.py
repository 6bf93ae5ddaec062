"""The checkers of the set "One detector for many networks": mistakes lose points, right answers written
differently pass."""

import numpy as np
import scipy.linalg
import torch
import torch.nn.functional as F
from sklearn.metrics import roc_auc_score

from dyngeo.attacks import fgsm
from dyngeo.geometry import embeddings as E
from dyngeo.grading.linear_maps_between_embeddings import (check_auroc, check_fgsm_attack, check_fourier_features,
                                                           check_least_squares_map, check_mapped_auroc,
                                                           check_ridge_map)

from checking import accepts, rejects, solution_namespace

torch.set_num_threads(1)
SOLUTION = solution_namespace("10-linear-maps-between-embeddings.md")
least_squares_map, ridge_map, fgsm_attack = (SOLUTION[k] for k in ("least_squares_map", "ridge_map", "fgsm_attack"))
auroc, mapped_auroc, fourier_features = (SOLUTION[k] for k in ("auroc", "mapped_auroc", "fourier_features"))


# ---------------------------------------------------------------------------------------- least_squares_map


def test_least_squares_map_right_answers_pass():
    accepts(check_least_squares_map, least_squares_map)
    accepts(check_least_squares_map, lambda XA, XB: (torch.linalg.pinv(torch.tensor(XA)) @ torch.tensor(XB)).T)

    def by_svd(XA, XB):
        U, s, Vt = np.linalg.svd(XA, full_matrices=False)
        keep = s > 1e-10 * s.max()
        return (Vt[keep].T @ ((U[:, keep].T @ XB) / s[keep, None])).T.tolist()

    accepts(check_least_squares_map, by_svd)


def test_least_squares_map_mistakes():
    rejects(check_least_squares_map, lambda XA, XB: np.linalg.pinv(XA) @ XB, "transpose")
    rejects(check_least_squares_map, lambda XA, XB: (np.linalg.pinv(XB) @ XA).T, "from B to A")
    # normal equations: right when m > d_A, a non-minimal (or failing) solve when m < d_A
    rejects(check_least_squares_map, lambda XA, XB: np.linalg.solve(XA.T @ XA + 1e-12 * np.eye(XA.shape[1]),
                                                                    XA.T @ XB).T)

    def particular(XA, XB):  # an exact but not minimum-norm solution when m < d_A
        M = (np.linalg.pinv(XA) @ XB).T
        if XA.shape[0] < XA.shape[1]:
            M = M + np.outer(np.ones(M.shape[0]), np.linalg.svd(XA)[2][-1])
        return M

    rejects(check_least_squares_map, particular, "smallest norm")
    rejects(check_least_squares_map, lambda XA, XB: (np.linalg.pinv(XA - XA.mean(0)) @ (XB - XB.mean(0))).T, "centred")
    rejects(check_least_squares_map, lambda XA, XB: np.linalg.lstsq(XA, XB, rcond=None)[0].T, "switched off")
    rejects(check_least_squares_map, lambda XA, XB: scipy.linalg.lstsq(XA, XB)[0].T, "switched off")
    rejects(check_least_squares_map, lambda XA, XB: E.fit_linear_map(XA, XB), "switched off")
    rejects(check_least_squares_map, lambda XA, XB: (np.linalg.pinv(XA) @ XB).T * np.nan, "NaN")


# ---------------------------------------------------------------------------------------- ridge_map


def test_ridge_map_right_answers_pass():
    accepts(check_ridge_map, ridge_map)

    def dual(XA, XB, lam):  # the same matrix through the m × m system
        return (XA.T @ np.linalg.solve(XA @ XA.T + lam * np.eye(len(XA)), XB)).T

    def augmented(XA, XB, lam):  # least squares on [XA; √λ I] against [XB; 0]
        d = XA.shape[1]
        A = np.vstack([XA, np.sqrt(lam) * np.eye(d)])
        B = np.vstack([XB, np.zeros((d, XB.shape[1]))])
        return torch.tensor(np.linalg.pinv(A) @ B).T

    accepts(check_ridge_map, dual)
    accepts(check_ridge_map, augmented)


def test_ridge_map_mistakes():
    d = lambda XA: np.eye(XA.shape[1])  # noqa: E731
    rejects(check_ridge_map, lambda XA, XB, lam: np.linalg.solve(XA.T @ XA + lam * len(XA) * d(XA), XA.T @ XB).T,
            "number of samples")
    rejects(check_ridge_map, lambda XA, XB, lam: np.linalg.solve(XA.T @ XA + lam, XA.T @ XB).T, "every entry")
    rejects(check_ridge_map, lambda XA, XB, lam: (np.linalg.pinv(XA) @ XB).T, "without the penalty")
    rejects(check_ridge_map, lambda XA, XB, lam: np.linalg.solve(XA.T @ XA + lam * d(XA), XA.T @ XB), "transpose")
    rejects(check_ridge_map, lambda XA, XB, lam: E.fit_linear_map(XA, XB, ridge=lam), "switched off")

    def sk(XA, XB, lam):
        from sklearn.linear_model import Ridge
        return Ridge(alpha=lam, fit_intercept=False).fit(XA, XB).coef_

    rejects(check_ridge_map, sk, "switched off")


# ---------------------------------------------------------------------------------------- fgsm_attack


def test_fgsm_attack_right_answers_pass():
    accepts(check_fgsm_attack, fgsm_attack)

    def summed(model, x, y, eps):  # a summed loss has the same sign
        x = x.clone().requires_grad_(True)
        F.cross_entropy(model(x), y, reduction="sum").backward()
        return torch.clamp(x.detach() + eps * torch.sign(x.grad), min=0.0, max=1.0)

    def per_sample_loop(model, x, y, eps):
        rows = []
        for i in range(len(x)):
            xi = x[i:i + 1].clone().requires_grad_(True)
            (g,) = torch.autograd.grad(F.cross_entropy(model(xi), y[i:i + 1]), xi)
            rows.append((xi + eps * g.sign()).clamp(0, 1).detach())
        return torch.cat(rows).numpy()

    accepts(check_fgsm_attack, summed)
    accepts(check_fgsm_attack, per_sample_loop)


def test_fgsm_attack_mistakes():
    def step(sign=1.0, clip=True, use_sign=True):
        def answer(model, x, y, eps):
            x = x.clone().requires_grad_(True)
            (g,) = torch.autograd.grad(F.cross_entropy(model(x), y), x)
            out = x + sign * eps * (g.sign() if use_sign else g)
            return (out.clamp(0, 1) if clip else out).detach()
        return answer

    rejects(check_fgsm_attack, step(sign=-1.0), "ascends")
    rejects(check_fgsm_attack, step(clip=False), "[0, 1]")
    rejects(check_fgsm_attack, step(use_sign=False), "its sign")
    rejects(check_fgsm_attack, lambda model, x, y, eps: x.clone(), "off by")
    rejects(check_fgsm_attack, lambda model, x, y, eps: (x + 2 * eps).clamp(0, 1), "ε-ball")
    rejects(check_fgsm_attack, lambda model, x, y, eps: fgsm(model, x, y, eps), "switched off")


# ---------------------------------------------------------------------------------------- auroc


def test_auroc_right_answers_pass():
    accepts(check_auroc, auroc)

    def by_ranks(scores, labels):  # Mann-Whitney U from average ranks
        from scipy.stats import rankdata
        r = rankdata(scores)
        n1, n0 = (labels == 1).sum(), (labels == 0).sum()
        return np.array([(r[labels == 1].sum() - n1 * (n1 + 1) / 2) / (n1 * n0)])

    def loops(scores, labels):
        pos = [s for s, l in zip(scores, labels) if l == 1]
        neg = [s for s, l in zip(scores, labels) if l == 0]
        return sum(1.0 if p > n else 0.5 if p == n else 0.0 for p in pos for n in neg) / (len(pos) * len(neg))

    accepts(check_auroc, by_ranks)
    accepts(check_auroc, loops)


def test_auroc_mistakes():
    def pairs(scores, labels):
        return scores[labels == 1][:, None] - scores[labels == 0][None, :]

    rejects(check_auroc, lambda s, y: float((pairs(s, y) > 0).mean()), "tie counts one half")
    rejects(check_auroc, lambda s, y: float((pairs(s, y) >= 0).mean()), "tie counts one half")
    rejects(check_auroc, lambda s, y: 1 - float(((pairs(s, y) > 0) + 0.5 * (pairs(s, y) == 0)).mean()), "swapped")
    rejects(check_auroc, lambda s, y: float(((s > np.median(s)) == y).mean()), "accuracy")
    rejects(check_auroc, lambda s, y: roc_auc_score(y, s), "switched off")


# ---------------------------------------------------------------------------------------- mapped_auroc


def test_mapped_auroc_right_answers_pass():
    accepts(check_mapped_auroc, mapped_auroc)

    def with_torch(w, b, XS_map, XT_map, XS_val, y_val):
        M = torch.linalg.lstsq(torch.tensor(XS_map), torch.tensor(XT_map)).solution
        s = (torch.tensor(XS_val) @ M @ torch.tensor(w) + b).numpy()
        return torch.tensor(roc_auc_score(y_val, s))

    accepts(check_mapped_auroc, with_torch)


def test_mapped_auroc_mistakes():
    def fit(A, B):
        return np.linalg.lstsq(A, B, rcond=None)[0]

    rejects(check_mapped_auroc, lambda w, b, Sm, Tm, Sv, y: roc_auc_score(y, -(Sv @ fit(Sm, Tm) @ w + b)), "reversed")
    rejects(check_mapped_auroc, lambda w, b, Sm, Tm, Sv, y: roc_auc_score(y, Sv @ w + b) if Sv.shape[1] == len(w)
            else roc_auc_score(y, Sv @ fit(Sm, Tm) @ w + b), "without mapping")
    rejects(check_mapped_auroc, lambda w, b, Sm, Tm, Sv, y: roc_auc_score(
        y, Sv @ fit(Sm - Sm.mean(0), Tm - Tm.mean(0)) @ w + b), "intercept")
    rejects(check_mapped_auroc, lambda w, b, Sm, Tm, Sv, y: roc_auc_score(y, Sv @ fit(Sv, Sv[:, :len(w)]) @ w + b))
    rejects(check_mapped_auroc, lambda w, b, Sm, Tm, Sv, y: E.cross_network_detection(
        (Tm[:60], Tm[60:]), (Sm[:60], Sm[60:]), E.split_indices(60))["auroc"], "switched off")


# ---------------------------------------------------------------------------------------- fourier_features


def test_fourier_features_right_answers_pass():
    accepts(check_fourier_features, fourier_features)

    def with_torch(X, kind):
        F_ = torch.fft.rfft(torch.tensor(X), dim=-1)
        return F_.abs() if kind == "magnitude" else torch.atan2(F_.imag, F_.real)

    accepts(check_fourier_features, with_torch)


def test_fourier_features_mistakes():
    rejects(check_fourier_features, lambda X, k: np.abs(np.fft.fft(X, axis=1)) if k == "magnitude"
            else np.angle(np.fft.fft(X, axis=1)), "full FFT")
    rejects(check_fourier_features, lambda X, k: np.abs(np.fft.rfft(X, axis=1)) ** 2 if k == "magnitude"
            else np.angle(np.fft.rfft(X, axis=1)), "power spectrum")
    rejects(check_fourier_features, lambda X, k: np.abs(np.fft.rfft(X, axis=1)) if k == "magnitude"
            else np.angle(np.fft.rfft(X, axis=1), deg=True), "degrees")
    rejects(check_fourier_features, lambda X, k: np.abs(np.fft.rfft(X, axis=1, norm="ortho")) if k == "magnitude"
            else np.angle(np.fft.rfft(X, axis=1)), "normalised")

    def arctan(X, k):
        F_ = np.fft.rfft(X, axis=1)
        return np.abs(F_) if k == "magnitude" else np.arctan(F_.imag / np.where(F_.real == 0, 1, F_.real))

    rejects(check_fourier_features, arctan, "quadrant")
    rejects(check_fourier_features, lambda X, k: E.fourier_features(X, k), "switched off")
