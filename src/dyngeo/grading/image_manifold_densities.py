"""Checkers for the exercise set "Densities on image manifolds" (``exercises/NN-image-manifold-densities``).

Five exercises rebuild the chapter's tools with torch: an affine coupling layer and its
log-determinant, the any-step reverse mean (eq. 18), the Markov-chain likelihood (eq. 23) with the
exact noise predictor of Gaussian data, the grid prior (eq. 25) and the rounding KL (eq. 28). The
expected values are computed here with independent formulas (autograd Jacobians, SciPy and
torch.distributions); the library functions that answer the exercises are switched off meanwhile.
"""

import itertools
import math

import numpy as np
import torch
from scipy.stats import multivariate_normal
from torch import distributions as D

from . import GradingError, checker, judge

__all__ = ["check_coupling", "check_reverse_mean", "check_markov_nll", "check_grid_log_prior", "check_rounding_kl"]

F = "dyngeo.models.flows."
L = "dyngeo.models.diffusion_likelihood."
G = "dyngeo.models.gridvae."


def _close(got, want, what, **kwargs):
    """``judge.close`` against a NumPy expectation, so that tensors, arrays and lists are all accepted."""
    judge.close(got, want.detach().numpy(), what, **kwargs)


def _gen(seed):
    return torch.Generator().manual_seed(int(seed) % (2**63))


# ------------------------------------------------------------------------------------------ coupling


def _coupling_ref(x, mask, Ws, bs, Wt, bt):
    kept = x * mask
    s, t = torch.tanh(kept @ Ws + bs), kept @ Wt + bt
    y = kept + (1 - mask) * (x * torch.exp(s) + t)
    return y, ((1 - mask) * s).sum(-1)


@checker(points=2, target="coupling", forbid=[F + "AffineCoupling.forward", F + "AffineCoupling._st"])
def check_coupling(ask, seed):
    """y and log|det| of an affine coupling layer; the log-det is checked against autograd's Jacobian."""
    g = _gen(seed)
    for d in (2, 3, 5):
        mask = (torch.arange(d) % 2 == (seed % 2)).double()
        Ws, Wt = 0.7 * torch.randn(d, d, generator=g, dtype=torch.float64), torch.randn(d, d, generator=g, dtype=torch.float64)
        bs, bt = 0.3 * torch.randn(d, generator=g, dtype=torch.float64), torch.randn(d, generator=g, dtype=torch.float64)
        x = torch.randn(6, d, generator=g, dtype=torch.float64)
        case = f"d = {d}, mask {mask.int().tolist()}"
        got = judge.sequence(ask("tuple(answer(x.clone(), mask.clone(), Ws, bs, Wt, bt))", case=case, x=x, mask=mask,
                                 Ws=Ws, bs=bs, Wt=Wt, bt=bt), "coupling's (y, logdet)", 2)
        y_ref, ld_ref = _coupling_ref(x, mask, Ws, bs, Wt, bt)
        # an independent reference for the log-determinant: autograd's Jacobian of y, row by row
        jac = torch.stack([torch.linalg.slogdet(torch.autograd.functional.jacobian(
            lambda v: _coupling_ref(v[None], mask, Ws, bs, Wt, bt)[0][0], xi))[1] for xi in x])
        assert torch.allclose(jac, ld_ref, atol=1e-10)
        s_all = torch.tanh((x * mask) @ Ws + bs)
        _close(got[0], y_ref, "y", rtol=1e-8, atol=1e-10, case=case, hints=[
            (x * mask + (1 - mask) * (x * torch.exp(torch.tanh(x @ Ws + bs)) + x @ Wt + bt),
             "s and t must be computed from the kept coordinates x·mask only, or the layer is not invertible"),
            (x * mask + (1 - mask) * (x + (x * mask) @ Wt + bt) * torch.exp(s_all),
             "the shift t is added before the scaling: y = x·exp(s) + t, not (x + t)·exp(s)")])
        _close(got[1], jac, "logdet", rtol=1e-8, atol=1e-10, case=case, hints=[
            (s_all.sum(-1), "sum s over the moved coordinates (mask = 0) only: the kept ones have derivative 1"),
            (torch.exp(((1 - mask) * s_all)).prod(-1), "return log|det J|, the sum of s, not det J itself")])


# ------------------------------------------------------------------------------------------ reverse mean


def _cosine_abar(T=100, s=0.008):
    f = np.cos((np.arange(T + 1) / T + s) / (1 + s) * np.pi / 2) ** 2
    betas = np.minimum(1 - f[1:] / f[:-1], 0.999)
    return np.cumprod(1 - betas)


@checker(points=2, target="reverse_mean", forbid=[L + "reverse_mean", "dyngeo.models.diffusion.posterior"])
def check_reverse_mean(ask, seed):
    """Eq. (18) for several (s, t), including s = t - 1 (eq. 17) and s = clean data (ᾱ_s = 1)."""
    g = _gen(seed)
    abar = _cosine_abar()
    rng = np.random.default_rng(seed)
    pairs = [(40, 39), (80, 30), (10, -1), tuple(sorted(rng.choice(np.arange(-1, 100), 2, replace=False))[::-1])]
    for t, s in pairs:
        a_t, a_s = float(abar[t]), (1.0 if s < 0 else float(abar[s]))
        x, eps = torch.randn(5, 3, generator=g, dtype=torch.float64), torch.randn(5, 3, generator=g, dtype=torch.float64)
        case = f"t = {t}, s = {s} (ᾱ_t = {a_t:.4g}, ᾱ_s = {a_s:.4g})"
        got = ask("answer(x.clone(), eps.clone(), a_s, a_t)", case=case, x=x, eps=eps, a_s=a_s, a_t=a_t)
        # reference: the DDPM posterior mean at x̂_0 = (x - √(1-ᾱ_t) ε)/√ᾱ_t, written independently of eq. (18)
        a = a_t / a_s
        x0 = (x - math.sqrt(1 - a_t) * eps) / math.sqrt(a_t)
        want = (math.sqrt(a_s) * (1 - a) * x0 + math.sqrt(a) * (1 - a_s) * x) / (1 - a_t)
        _close(got, want, "the reverse mean", rtol=1e-8, atol=1e-10, case=case, hints=[
            ((x - (1 - a) / (1 - a_t) * eps) / math.sqrt(a), "divide by √β̄_t = √(1 - ᾱ_t), not by β̄_t"),
            (x - (1 - a) / math.sqrt(1 - a_t) * eps, "the factor 1/√ᾱ_st in front is missing"),
            ((x - (1 - a) / math.sqrt(1 - a_t) * eps) / a, "the factor in front is 1/√ᾱ_st, not 1/ᾱ_st"),
            ((x - (1 - a_s / a_t) / math.sqrt(1 - a_t) * eps) * math.sqrt(a), "ᾱ_st is ᾱ_t / ᾱ_s (s < t), not ᾱ_s / ᾱ_t")])


# ------------------------------------------------------------------------------------------ Markov NLL


def _markov_ref(x0, abar, var, noise, variance="forward", prior=True):
    """Eq. (23) with ε* of N(0, var I) data, on the levels of ``abar`` (abar[0] = 1 is clean data)."""
    x, total = x0, torch.zeros(x0.shape[0], dtype=x0.dtype)
    d = x0.shape[1]

    def logn(v, m, s2):
        return -0.5 * d * math.log(2 * math.pi * s2) - ((v - m) ** 2).sum(-1) / (2 * s2) if s2 > 0 else \
            torch.full((v.shape[0],), -math.inf, dtype=v.dtype)

    for k in range(len(abar) - 1):
        a = float(abar[k + 1] / abar[k])
        xn = math.sqrt(a) * x + math.sqrt(1 - a) * noise[k]
        total = total + logn(xn, math.sqrt(a) * x, 1 - a)
        at = float(abar[k + 1])
        eps = math.sqrt(1 - at) * xn / (at * var + 1 - at)
        mean = (xn - (1 - a) / math.sqrt(1 - at) * eps) / math.sqrt(a)
        s2 = 1 - a if variance == "forward" else (1 - float(abar[k])) * (1 - a) / (1 - at)
        total = total - logn(x, mean, s2)
        x = xn
    return total - logn(x, torch.zeros_like(x), 1.0) if prior else total


@checker(points=3, target="markov_nll", forbid=[L + "markov_nll", L + "gaussian_eps", L + "reverse_mean", L + "_log_normal",
                                                   "dyngeo.models.diffusion.posterior"])
def check_markov_nll(ask, seed):
    """Eq. (23) on given forward noise, exactly; averaged over many draws it is close to the true NLL."""
    g = _gen(seed)
    full = np.concatenate([[1.0], _cosine_abar()])
    for h, var, B in ((1, 0.25, 4), (5, 0.5, 3)):
        abar = torch.tensor(np.concatenate([[1.0], full[1:][::-1][::h][::-1]]))  # levels -1, ..., T-1-h, T-1
        x0 = math.sqrt(var) * torch.randn(B, 2, generator=g, dtype=torch.float64) * 1.5
        noise = torch.randn(len(abar) - 1, B, 2, generator=g, dtype=torch.float64)
        case = f"h = {h}, data N(0, {var} I), {len(abar) - 1} steps"
        got = ask("answer(x0.clone(), abar.clone(), var, noise.clone())", case=case, x0=x0, abar=abar, var=var, noise=noise)
        want = _markov_ref(x0, abar, var, noise)
        _close(got, want, "the NLL estimate", rtol=1e-7, atol=1e-8, case=case, hints=[
            (_markov_ref(x0, abar, var, noise, prior=False), "the term -log p(x_T) of the standard normal is missing"),
            (-want, "eq. (23) is the negative log-likelihood: forward terms minus backward terms, minus log p(x_T)")])
        if h == 1:
            many = torch.randn(len(abar) - 1, 600, 2, generator=g, dtype=torch.float64)
            pts = x0.repeat_interleave(150, 0)[:600]
            est = judge.tensor(ask("answer(x0.clone(), abar.clone(), var, noise.clone())", case=case + ", 150 draws per point",
                                   x0=pts, abar=abar, var=var, noise=many), "the NLL estimates", shape=(600,))
            means = est.reshape(B, 150).mean(1).numpy()
            true = -multivariate_normal(np.zeros(2), var * np.eye(2)).logpdf(x0.numpy())
            if np.max(np.abs(means - true)) > 0.4:
                raise GradingError(f"averaged over 150 forward trajectories the estimate {np.round(means, 3)} should be "
                                   f"within 0.4 nats of the exact NLL {np.round(true, 3)}")


# ------------------------------------------------------------------------------------------ grid prior


def _brute_prior(z, values, sigma):
    centres = torch.tensor(list(itertools.product(values, repeat=z.shape[1])), dtype=z.dtype)
    comps = D.Independent(D.Normal(centres, sigma * torch.ones_like(centres)), 1)
    return torch.logsumexp(comps.log_prob(z[:, None]), 1) - math.log(len(centres)), comps.log_prob(z[:, None])


@checker(points=2, target="grid_log_prior", forbid=[G + "grid_log_prior"])
def check_grid_log_prior(ask, seed):
    """log p(z) of the equal-weight mixture on the grid, against a brute-force sum over every centre."""
    g = _gen(seed)
    for values, sigma, d in (((-2, -1, 0, 1, 2, 3), 1 / 3, 2), ((0, 1), 0.25, 3), ((-1, 0, 1, 2), 0.6, 2)):
        z = 5 * torch.rand(20, d, generator=g, dtype=torch.float64) - 2.5
        z[0] = 40.0  # far from every centre: a naive exp-then-log underflows to -inf
        v = torch.tensor(values, dtype=torch.float64)
        case = f"{len(values)}^{d} centres at {list(values)}, σ = {sigma:.4g}"
        got = ask("answer(z.clone(), values.clone(), sigma)", case=case, z=z, values=v, sigma=sigma)
        want, comps = _brute_prior(z, values, sigma)
        _close(got, want, "log p(z)", rtol=1e-8, atol=1e-8, case=case, hints=[
            (want + math.log(len(values) ** d), "the mixture weight 1/K (K the number of centres) is missing"),
            (comps.max(1).values - math.log(len(values) ** d), "log-sum-exp over all centres, not only the nearest one"),
            (comps.max(1).values, "log-sum-exp over all centres, not only the nearest one"),
            (_brute_prior(z, values, sigma ** 2)[0], "sigma is a standard deviation; the variance is sigma²")])


# ------------------------------------------------------------------------------------------ rounding KL


@checker(points=2, target="rounding_kl", forbid=[G + "rounding_kl", "torch.distributions.kl.kl_divergence"])
def check_rounding_kl(ask, seed):
    """Eq. (28) against torch.distributions' Gaussian KL to the rounded (or the given) centres."""
    g = _gen(seed)
    for s0, guided in ((1 / 16, False), (0.25, False), (0.5, True)):
        mu = 2.5 * torch.randn(7, 5, generator=g, dtype=torch.float64)
        logvar = torch.randn(7, 5, generator=g, dtype=torch.float64) - 3
        target = torch.randint(0, 2, (7, 5), generator=g).double() if guided else None
        case = f"σ₀ = {s0:g}, " + ("guided by 0/1 targets" if guided else "unguided")
        code = "answer(mu.clone(), logvar.clone(), s0, target.clone())" if guided else \
            "answer(mu.clone(), logvar.clone(), s0)"
        inputs = dict(mu=mu, logvar=logvar, s0=s0) | ({"target": target} if guided else {})
        got = ask(code, case=case, **inputs)
        centre = target if guided else torch.round(mu)
        q = D.Normal(mu, (0.5 * logvar).exp())
        want = D.kl_divergence(q, D.Normal(centre, s0)).sum(-1)
        hints = [(D.kl_divergence(q, D.Normal(centre, math.sqrt(s0))).sum(-1),
                  "σ₀ is a standard deviation: the prior variance is σ₀²"),
                 (want + 0.5 * mu.shape[1], "the -1 per dimension (the -n of eq. 27) is missing"),
                 (D.kl_divergence(q, D.Normal(torch.floor(mu), s0)).sum(-1), "round to the nearest integer, not down"),
                 (D.kl_divergence(D.Normal(centre, s0), q).sum(-1), "the KL is from q(z|x) to the prior, not the reverse")]
        if guided:
            hints.append((D.kl_divergence(q, D.Normal(torch.round(mu), s0)).sum(-1),
                          "with targets, the centre is the target, not round(μ)"))
        _close(got, want, "the KL", rtol=1e-8, atol=1e-9, case=case, hints=hints)
