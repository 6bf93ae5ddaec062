"""Checkers for the exercise set "Lift, map, detect" (``exercises/NN-diffusion-ood-detection``).

Each checker draws its cases from ``seed``, has the answer called through ``ask`` and judges the plain
values that come back against ``dyngeo.models.lmd`` and ``dyngeo.models.diffusion``, whose functions that
answer an exercise are switched off while the student's code runs.
"""

import math

import numpy as np
import torch

from ..models import lmd
from ..models.diffusion import Schedule, posterior
from . import GradingError, checker, judge

__all__ = ["check_checkerboard", "check_auroc", "check_reverse_mean", "check_median_score", "check_replace_known"]

L_ = "dyngeo.models.lmd."
D_ = "dyngeo.models.diffusion."
MASKS = [L_ + "checkerboard_mask", L_ + "make_masks"]
AUC = [L_ + "roc_auc", "sklearn.metrics.roc_auc_score", "sklearn.metrics._ranking.roc_auc_score",
       "scipy.stats.mannwhitneyu"]
MEAN = [D_ + "posterior", D_ + "ddpm_sample", D_ + "_predict", D_ + "inpaint"]
SCORE = [L_ + "lmd_score", L_ + "mse"]
REPLACE = [D_ + "inpaint", D_ + "q_sample", L_ + "reconstruct"]


@checker(points=2, target="checkerboard", forbid=MASKS)
def check_checkerboard(ask, seed):
    """The n × n checkerboard of patches of a size × size image, top-left patch kept, and its flip."""
    rng = np.random.default_rng(seed)
    cases = [(8, 4), (8, 2), (12, 3), (16, 8), (int(rng.choice([6, 10, 14])), 2), (9, 9)]
    for size, n in cases:
        for flip in (False, True):
            case = f"size = {size}, n = {n}, flip = {flip}"
            got = ask("np.asarray(answer(size, n, flip))", case=case, size=size, n=n, flip=flip)
            want = lmd.checkerboard_mask(size, n, flip=flip).numpy()
            got = judge.array(got, "the mask", kind="bool")
            if got.shape != want.shape:
                raise GradingError(f"for {case} the mask should be {size} × {size}; got shape {got.shape}")
            if np.array_equal(got, want):
                continue
            k = size // n
            cause = ""
            if np.array_equal(got, ~want):
                cause = ("the phases are swapped: without flip the top-left patch is kept (True), patches with "
                         "i + j even")
            elif np.array_equal(got, np.indices((size, size)).sum(0) % 2 == (1 if flip else 0)):
                cause = "this is a checkerboard of single pixels: the patches are size/n pixels a side"
            elif n != k and size % k == 0 and np.array_equal(got, lmd.checkerboard_mask(size, k, flip=flip).numpy()):
                cause = "n is the number of patches per side, each size/n pixels wide, not the patch width"
            raise GradingError(f"for {case} the mask is wrong at {int((got != want).sum())} pixels"
                               + (f". Likely cause: {cause}" if cause else ""))


def _auc_reference(s_in, s_out):
    diff = s_out[:, None] - s_in[None, :]
    return float((diff > 0).mean() + 0.5 * (diff == 0).mean())


@checker(points=2, target="auroc", forbid=AUC)
def check_auroc(ask, seed):
    """ROC-AUC with out-of-distribution as the positive class, ties counted one half (Mann–Whitney)."""
    rng = np.random.default_rng(seed)
    n_in, n_out = int(rng.integers(20, 40)), int(rng.integers(15, 45))
    cases = [("continuous scores", rng.normal(0, 1, n_in), rng.normal(0.8, 1, n_out)),
             ("scores with many ties", rng.integers(0, 5, n_in).astype(float), rng.integers(1, 6, n_out).astype(float)),
             ("separated scores", rng.uniform(0, 1, 7), rng.uniform(2, 3, 5)),
             ("identical scores", np.full(6, 0.3), np.full(9, 0.3))]
    for name, s_in, s_out in cases:
        got = ask("answer(s_in.copy(), s_out.copy())", case=name, s_in=s_in, s_out=s_out)
        want = _auc_reference(s_in, s_out)
        diff = s_out[:, None] - s_in[None, :]
        judge.close_number(got, want, "the ROC-AUC", rtol=1e-9, atol=1e-12, case=name,
                           hints=[(1 - want, "the classes are swapped: out-of-distribution images are the positive "
                                   "class, so the AUC is P(s_out > s_in)"),
                                  (float((diff > 0).mean()), "ties count one half: add ½ P(s_out = s_in)"),
                                  (float((diff >= 0).mean()), "ties count one half, not one"),
                                  (float((diff > 0).sum()), "divide the count of pairs by n_in · n_out")])


def _schedule(rng):
    T = int(rng.integers(20, 60))
    return Schedule.linear(T, 1e-3 * rng.uniform(0.5, 2), 0.05 * rng.uniform(0.8, 2))


@checker(points=2, target="reverse_mean", forbid=MEAN)
def check_reverse_mean(ask, seed):
    """DDPM's eq. 11 mean from ε equals the posterior mean q(x_{t-1} | x_t, x̂_0) at x̂_0(ε)."""
    rng = np.random.default_rng(seed)
    sched = _schedule(rng)
    betas = sched.betas.clone()
    for t in (0, 1, int(rng.integers(2, sched.T - 1)), sched.T - 1):
        x_t = torch.tensor(rng.normal(size=(3, 5)))
        eps = torch.tensor(rng.normal(size=(3, 5)))
        case = f"T = {sched.T}, t = {t} (0-based)"
        got = ask("answer(x_t.clone(), eps.clone(), t, betas.clone())", case=case, x_t=x_t, eps=eps, t=t, betas=betas)
        a_t, abar = float(sched.alphas[t]), float(sched.alpha_bar[t])
        x0 = (x_t - math.sqrt(1 - abar) * eps) / math.sqrt(abar)
        want, _ = posterior(sched, x_t, x0, t, t - 1)
        b = float(betas[t])
        judge.close(got, want.numpy(), "the reverse mean", rtol=1e-8, atol=1e-10, case=case,
                    hints=[((x_t - b / (1 - abar) * eps) / math.sqrt(a_t),
                            "the coefficient of ε is β_t / √(1 - ᾱ_t): the square root is missing"),
                           ((x_t - b / math.sqrt(1 - abar) * eps) / math.sqrt(abar),
                            "divide by √α_t (one step), not by √ᾱ_t (the product)"),
                           ((x_t - b / math.sqrt(1 - abar) * eps) / a_t, "divide by √α_t, not α_t"),
                           (x0, "this is x̂_0, the predicted clean image, not the mean of x_{t-1}"),
                           ((x_t - float(betas[t - 1]) / math.sqrt(1 - float(sched.alpha_bar[t - 1])) * eps)
                            / math.sqrt(float(sched.alphas[t - 1])) if t > 0 else x0 * np.nan,
                            "an off-by-one in t: betas[t] is the β of step t (0-based)")])


@checker(points=1, target="median_score", forbid=SCORE)
def check_median_score(ask, seed):
    """Algorithm 1's score: per reconstruction the MSE to the original, then the median over the r attempts."""
    rng = np.random.default_rng(seed)
    for r in (1, 4, 5):
        B = int(rng.integers(3, 7))
        x = torch.tensor(rng.random((B, 1, 8, 8)))
        recon = x + torch.tensor(rng.normal(0, 1, (r, 1, 1, 1, 1)) * rng.random((r, B, 1, 8, 8)))
        case = f"r = {r} reconstructions of {B} images"
        got = ask("answer(x.clone(), recon.clone())", case=case, x=x, recon=recon)
        d = ((recon - x) ** 2).mean(dim=(2, 3, 4))
        want = d.quantile(0.5, dim=0)
        judge.close(got, want.numpy(), "the scores", rtol=1e-8, atol=1e-12, case=case,
                    hints=[(d.mean(0), "this is the mean over the reconstructions; Algorithm 1 takes the median"),
                           (((recon - x) ** 2).median(0).values.mean(dim=(1, 2, 3)),
                            "the median is over the r distances, after the per-image MSE, not over pixels"),
                           (d.median(0).values if r % 2 == 0 else want * np.nan,
                            "for an even r the median is the mean of the two middle distances "
                            "(torch.median returns the lower one; use torch.quantile(…, 0.5) or np.median)"),
                           (((recon - x) ** 2).sum(dim=(2, 3, 4)).quantile(0.5, dim=0),
                            "the distance is the mean squared error over pixels, not the sum")])
    x = torch.tensor(rng.random((4, 1, 8, 8)))
    recon = x + torch.tensor(rng.random((5, 4, 1, 8, 8)))
    perm = torch.tensor(rng.permutation(5))
    a, b = (judge.array(ask("answer(x.clone(), recon.clone())", case=name, x=x, recon=rec), "the scores")
            for name, rec in (("five reconstructions", recon), ("the same five in another order", recon[perm])))
    if a.shape != b.shape or not np.allclose(a, b, rtol=1e-10, atol=1e-12):
        raise GradingError("the score changes when the reconstructions are reordered; the median over the r "
                           "attempts does not depend on their order")


@checker(points=2, target="replace_known", forbid=REPLACE)
def check_replace_known(ask, seed):
    """Algorithm 2's replacement: known pixels from √ᾱ_s x_orig + √(1-ᾱ_s) ε, the others from the model."""
    rng = np.random.default_rng(seed)
    for trial in range(3):
        shape = (int(rng.integers(1, 4)), 1, 8, 8)
        x_inp, x_orig, noise = (torch.tensor(rng.normal(size=shape)) for _ in range(3))
        known = torch.tensor(rng.random((1, 1, 8, 8)) < 0.5)
        abar = float(rng.uniform(0.05, 0.95))
        case = f"ᾱ_s = {abar:.3f}, batch {shape[0]}"
        got = ask("answer(x_inp.clone(), x_orig.clone(), known.clone(), abar, noise.clone())", case=case,
                  x_inp=x_inp, x_orig=x_orig, known=known, abar=abar, noise=noise)
        noised = math.sqrt(abar) * x_orig + math.sqrt(1 - abar) * noise
        want = torch.where(known, noised, x_inp)
        judge.close(got, want.numpy(), "the combined image", rtol=1e-10, atol=1e-12, case=case,
                    hints=[(torch.where(known, x_orig, x_inp), "the known pixels must be the original diffused to "
                            "level s (√ᾱ_s x + √(1-ᾱ_s) ε), not the clean original"),
                           (torch.where(known, x_inp, noised), "the mask is reversed: True marks a kept (known) pixel"),
                           (torch.where(known, abar * x_orig + (1 - abar) * noise, x_inp),
                            "the coefficients are √ᾱ_s and √(1-ᾱ_s), not ᾱ_s and 1-ᾱ_s")])
