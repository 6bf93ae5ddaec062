"""The checkers of the set "Densities on image manifolds": mistakes lose points, right answers written differently pass."""

import math

import numpy as np
import torch

from dyngeo.grading.image_manifold_densities import (check_coupling, check_grid_log_prior, check_markov_nll,
                                                     check_reverse_mean, check_rounding_kl)

from checking import accepts, rejects, solution_namespace

torch.set_num_threads(1)
SOLUTION = solution_namespace("12-image-manifold-densities.md")
coupling, reverse_mean, markov_nll = SOLUTION["coupling"], SOLUTION["reverse_mean"], SOLUTION["markov_nll"]
grid_log_prior, rounding_kl = SOLUTION["grid_log_prior"], SOLUTION["rounding_kl"]


# ---------------------------------------------------------------------------------------- coupling


def test_coupling_right_answers_pass():
    accepts(check_coupling, coupling)

    def numpy_version(x, mask, Ws, bs, Wt, bt):  # NumPy, logdet via log of the product of the diagonal
        x, m = x.numpy(), mask.numpy()
        s = np.tanh((x * m) @ Ws.numpy() + bs.numpy())
        t = (x * m) @ Wt.numpy() + bt.numpy()
        y = np.where(m > 0, x, x * np.exp(s) + t)
        return y, np.log(np.prod(np.where(m > 0, 1.0, np.exp(s)), axis=1))

    accepts(check_coupling, numpy_version)


def test_coupling_mistakes():
    def all_s(x, mask, Ws, bs, Wt, bt):
        y, _ = coupling(x, mask, Ws, bs, Wt, bt)
        return y, torch.tanh((x * mask) @ Ws + bs).sum(-1)

    rejects(check_coupling, all_s, "moved coordinates")

    def unmasked_conditioner(x, mask, Ws, bs, Wt, bt):
        s, t = torch.tanh(x @ Ws + bs), x @ Wt + bt
        return x * mask + (1 - mask) * (x * torch.exp(s) + t), ((1 - mask) * s).sum(-1)

    rejects(check_coupling, unmasked_conditioner, "kept coordinates")

    def det_not_log(x, mask, Ws, bs, Wt, bt):
        y, ld = coupling(x, mask, Ws, bs, Wt, bt)
        return y, ld.exp()

    rejects(check_coupling, det_not_log, "not det J")
    rejects(check_coupling, lambda *a: coupling(*a)[0], "2 items")


# ---------------------------------------------------------------------------------------- reverse mean


def test_reverse_mean_right_answers_pass():
    accepts(check_reverse_mean, reverse_mean)

    def via_x0(x_t, eps, abar_s, abar_t):  # the posterior mean at x̂_0, as DDPM writes it
        x0 = (x_t - math.sqrt(1 - abar_t) * eps) / math.sqrt(abar_t)
        a = abar_t / abar_s
        return (math.sqrt(abar_s) * (1 - a) * x0 + math.sqrt(a) * (1 - abar_s) * x_t) / (1 - abar_t)

    accepts(check_reverse_mean, via_x0)


def test_reverse_mean_mistakes():
    rejects(check_reverse_mean, lambda x, e, s, t: (x - (1 - t / s) / (1 - t) * e) / math.sqrt(t / s), "√β̄_t")
    rejects(check_reverse_mean, lambda x, e, s, t: x - (1 - t / s) / math.sqrt(1 - t) * e, "1/√ᾱ_st")
    rejects(check_reverse_mean, lambda x, e, s, t: (x - (1 - s / t) / math.sqrt(1 - t) * e) / math.sqrt(s / t),
            "ᾱ_t / ᾱ_s")


# ---------------------------------------------------------------------------------------- Markov NLL


def test_markov_nll_right_answers_pass():
    accepts(check_markov_nll, markov_nll)

    def with_distributions(x0, abar, var, noise):  # torch.distributions for the Gaussian terms
        N = torch.distributions.Normal
        x, total = x0, 0.0
        for k in range(len(abar) - 1):
            a, at = abar[k + 1] / abar[k], abar[k + 1]
            nxt = a.sqrt() * x + (1 - a).sqrt() * noise[k]
            eps = (1 - at).sqrt() * nxt / (at * var + 1 - at)
            mean = (nxt - (1 - a) / (1 - at).sqrt() * eps) / a.sqrt()
            total = total + N(a.sqrt() * x, (1 - a).sqrt()).log_prob(nxt).sum(-1) - \
                N(mean, (1 - a).sqrt()).log_prob(x).sum(-1)
            x = nxt
        return total - N(0.0, 1.0).log_prob(x).sum(-1)

    accepts(check_markov_nll, with_distributions)


def test_markov_nll_mistakes():
    d = lambda x: -0.5 * x.shape[1] * math.log(2 * math.pi) - 0.5 * (x ** 2).sum(-1)

    def no_prior(x0, abar, var, noise):
        x = x0
        for k in range(len(abar) - 1):
            x = math.sqrt(float(abar[k + 1] / abar[k])) * x + math.sqrt(1 - float(abar[k + 1] / abar[k])) * noise[k]
        return markov_nll(x0, abar, var, noise) + d(x)

    rejects(check_markov_nll, no_prior, "-log p(x_T)")
    rejects(check_markov_nll, lambda *a: -markov_nll(*a), "negative log-likelihood")

    def posterior_variance(x0, abar, var, noise):
        out = markov_nll(x0, abar, var, noise)
        return out + torch.inf  # the β̄_s β̄_st / β̄_t choice is infinite on the last step

    rejects(check_markov_nll, posterior_variance, "infinity")

    def wrong_eps(x0, abar, var, noise):  # the noise predictor of unit-variance data
        return markov_nll(x0, abar, 1.0, noise)

    rejects(check_markov_nll, wrong_eps, "NLL estimate")


# ---------------------------------------------------------------------------------------- grid prior


def test_grid_log_prior_right_answers_pass():
    accepts(check_grid_log_prior, grid_log_prior)

    def brute(z, values, sigma):  # every centre of the grid explicitly, scipy's logsumexp
        import itertools

        from scipy.special import logsumexp
        from scipy.stats import multivariate_normal

        cs = list(itertools.product(values.tolist(), repeat=z.shape[1]))
        lp = np.stack([multivariate_normal(c, sigma ** 2 * np.eye(z.shape[1])).logpdf(z.numpy()) for c in cs], 1)
        return logsumexp(lp, axis=1) - math.log(len(cs))

    accepts(check_grid_log_prior, brute)


def test_grid_log_prior_mistakes():
    n = lambda v, d: len(v) ** d
    rejects(check_grid_log_prior, lambda z, v, s: grid_log_prior(z, v, s) + z.shape[1] * math.log(len(v)), "1/K")

    def nearest_only(z, v, s):
        comp = -0.5 * ((z[..., None] - v) / s) ** 2 - math.log(s) - 0.5 * math.log(2 * math.pi)
        return comp.max(-1).values.sum(-1) - math.log(n(v, z.shape[1]))

    rejects(check_grid_log_prior, nearest_only, "not only the nearest")
    rejects(check_grid_log_prior, lambda z, v, s: grid_log_prior(z, v, s ** 2), "standard deviation")

    def underflows(z, v, s):
        comp = torch.exp(-0.5 * ((z[..., None] - v) / s) ** 2) / (s * math.sqrt(2 * math.pi))
        return torch.log(comp.mean(-1)).sum(-1)

    rejects(check_grid_log_prior, underflows, "infinity")


# ---------------------------------------------------------------------------------------- rounding KL


def test_rounding_kl_right_answers_pass():
    accepts(check_rounding_kl, rounding_kl)

    def eq27(mu, logvar, sigma0, target=None):  # the matrix form of eq. (27) with diagonal covariances
        c = torch.round(mu) if target is None else target
        n = mu.shape[1]
        S1, S2 = logvar.exp(), torch.full_like(mu, sigma0 ** 2)
        return 0.5 * (S2.log().sum(-1) - S1.log().sum(-1) - n + (S1 / S2).sum(-1) + ((c - mu) ** 2 / S2).sum(-1))

    accepts(check_rounding_kl, eq27)


def test_rounding_kl_mistakes():
    rejects(check_rounding_kl, lambda m, lv, s, t=None: rounding_kl(m, lv, math.sqrt(s), t), "standard deviation")
    rejects(check_rounding_kl, lambda m, lv, s, t=None: rounding_kl(m, lv, s, t) + 0.5 * m.shape[1], "-1 per dimension")

    def floor(m, lv, s, t=None):
        return rounding_kl(m, lv, s, torch.floor(m) if t is None else t)

    rejects(check_rounding_kl, floor, "nearest integer")
    rejects(check_rounding_kl, lambda m, lv, s, t=None: rounding_kl(m, lv, s), "the target")

    def reverse(m, lv, s, t=None):
        c = torch.round(m) if t is None else t
        return 0.5 * (lv - math.log(s ** 2) - 1 + (s ** 2 + (m - c) ** 2) / lv.exp()).sum(-1)

    rejects(check_rounding_kl, reverse, "not the reverse")
