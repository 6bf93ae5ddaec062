"""The checkers of the set "Lift, map, detect": mistakes lose points, right answers written differently pass."""

import math

import numpy as np
import torch

from dyngeo.grading.diffusion_ood_detection import (check_auroc, check_checkerboard, check_median_score,
                                                    check_replace_known, check_reverse_mean)
from dyngeo.models import lmd

from checking import accepts, rejects, solution_namespace

SOLUTION = solution_namespace("13-diffusion-ood-detection.md")
checkerboard, auroc, reverse_mean = SOLUTION["checkerboard"], SOLUTION["auroc"], SOLUTION["reverse_mean"]
median_score, replace_known = SOLUTION["median_score"], SOLUTION["replace_known"]


# ------------------------------------------------------------------------------------- checkerboard
def test_checkerboard_right_answers_pass():
    accepts(check_checkerboard, checkerboard)

    def with_kron(size, n, flip=False):  # torch, built from an n × n board and a 0/1 int dtype
        board = (torch.arange(n)[:, None] + torch.arange(n)[None, :] + int(flip)) % 2 == 0
        return torch.kron(board.int(), torch.ones(size // n, size // n, dtype=torch.int32))

    accepts(check_checkerboard, with_kron)


def test_checkerboard_mistakes():
    rejects(check_checkerboard, lambda size, n, flip=False: ~checkerboard(size, n, flip), "phases are swapped")
    rejects(check_checkerboard, lambda size, n, flip=False: (np.indices((size, size)).sum(0) + flip) % 2 == 0,
            "single pixels")
    rejects(check_checkerboard, lambda size, n, flip=False: checkerboard(size, size // n, flip), "number of patches")
    rejects(check_checkerboard, lambda size, n, flip=False: checkerboard(size, n, flip)[:-1], "should be")
    rejects(check_checkerboard, lambda size, n, flip=False: lmd.checkerboard_mask(size, n, flip), "switched off")


# ------------------------------------------------------------------------------------------- auroc
def test_auroc_right_answers_pass():
    accepts(check_auroc, auroc)

    def by_ranks(s_in, s_out):  # the rank-sum form of Mann–Whitney
        from scipy.stats import rankdata

        ranks = rankdata(np.r_[s_in, s_out])
        n_in, n_out = len(s_in), len(s_out)
        return (ranks[n_in:].sum() - n_out * (n_out + 1) / 2) / (n_in * n_out)

    accepts(check_auroc, by_ranks)


def test_auroc_mistakes():
    rejects(check_auroc, lambda s_in, s_out: 1 - auroc(s_in, s_out), "classes are swapped")
    rejects(check_auroc, lambda s_in, s_out: float((s_out[:, None] > s_in[None]).mean()), "ties count one half")
    rejects(check_auroc, lambda s_in, s_out: float((s_out[:, None] >= s_in[None]).mean()), "not one")
    rejects(check_auroc, lambda s_in, s_out: float((s_out[:, None] > s_in[None]).sum()
                                                   + 0.5 * (s_out[:, None] == s_in[None]).sum()), "n_in · n_out")

    def sklearn_auc(s_in, s_out):
        from sklearn.metrics import roc_auc_score

        return roc_auc_score(np.r_[np.zeros(len(s_in)), np.ones(len(s_out))], np.r_[s_in, s_out])

    rejects(check_auroc, sklearn_auc, "switched off")


# ------------------------------------------------------------------------------------ reverse_mean
def test_reverse_mean_right_answers_pass():
    accepts(check_reverse_mean, reverse_mean)

    def via_x0(x_t, eps, t, betas):  # the posterior mean at x̂_0, written out
        abar = torch.cumprod(1 - betas, 0)
        a_t, a_s = abar[t], abar[t - 1] if t > 0 else torch.tensor(1.0, dtype=betas.dtype)
        x0 = (x_t - (1 - a_t).sqrt() * eps) / a_t.sqrt()
        return (a_s.sqrt() * betas[t] * x0 + (1 - betas[t]).sqrt() * (1 - a_s) * x_t) / (1 - a_t)

    accepts(check_reverse_mean, via_x0)


def test_reverse_mean_mistakes():
    def no_sqrt(x_t, eps, t, betas):
        abar = torch.cumprod(1 - betas, 0)[t]
        return (x_t - betas[t] / (1 - abar) * eps) / torch.sqrt(1 - betas[t])

    def abar_denominator(x_t, eps, t, betas):
        abar = torch.cumprod(1 - betas, 0)[t]
        return (x_t - betas[t] / torch.sqrt(1 - abar) * eps) / torch.sqrt(abar)

    def x0_hat(x_t, eps, t, betas):
        abar = torch.cumprod(1 - betas, 0)[t]
        return (x_t - torch.sqrt(1 - abar) * eps) / torch.sqrt(abar)

    def off_by_one(x_t, eps, t, betas):
        return reverse_mean(x_t, eps, max(t - 1, 0), betas)

    rejects(check_reverse_mean, no_sqrt, "square root is missing")
    rejects(check_reverse_mean, abar_denominator, "not by √ᾱ_t")
    rejects(check_reverse_mean, x0_hat, "x̂_0")
    rejects(check_reverse_mean, off_by_one, "off-by-one")


# ------------------------------------------------------------------------------------ median_score
def test_median_score_right_answers_pass():
    accepts(check_median_score, median_score)
    accepts(check_median_score, lambda x, recon: np.median(((recon - x).numpy() ** 2).mean(axis=(2, 3, 4)), axis=0))


def test_median_score_mistakes():
    rejects(check_median_score, lambda x, recon: ((recon - x) ** 2).mean(dim=(2, 3, 4)).mean(0), "median")
    rejects(check_median_score, lambda x, recon: ((recon - x) ** 2).mean(dim=(2, 3, 4)).median(0).values, "even r")
    rejects(check_median_score, lambda x, recon: ((recon - x) ** 2).median(0).values.mean(dim=(1, 2, 3)),
            "not over pixels")
    rejects(check_median_score, lambda x, recon: ((recon - x) ** 2).sum(dim=(2, 3, 4)).quantile(0.5, dim=0),
            "not the sum")
    rejects(check_median_score, lambda x, recon: lmd.lmd_score(x, recon), "switched off")


# ----------------------------------------------------------------------------------- replace_known
def test_replace_known_right_answers_pass():
    accepts(check_replace_known, replace_known)
    accepts(check_replace_known, lambda x_inp, x_orig, known, abar, noise:
            torch.where(known, abar**0.5 * x_orig + (1 - abar) ** 0.5 * noise, x_inp))


def test_replace_known_mistakes():
    rejects(check_replace_known, lambda x_inp, x_orig, known, abar, noise: torch.where(known, x_orig, x_inp),
            "not the clean original")
    rejects(check_replace_known, lambda x_inp, x_orig, known, abar, noise:
            torch.where(~known, math.sqrt(abar) * x_orig + math.sqrt(1 - abar) * noise, x_inp), "reversed")
    rejects(check_replace_known, lambda x_inp, x_orig, known, abar, noise:
            torch.where(known, abar * x_orig + (1 - abar) * noise, x_inp), "not ᾱ_s")
    rejects(check_replace_known, lambda x_inp, x_orig, known, abar, noise:
            __import__("dyngeo").models.diffusion.inpaint, "should be")
