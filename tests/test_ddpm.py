"""dyngeo.models.diffusion against closed forms: Gaussian data, whose optimal ε-predictor is known exactly.

For ``x_0 ~ N(m, s² I)`` and ``x_t = √ᾱ x_0 + √(1-ᾱ) ε``, ``E[ε | x_t] = √(1-ᾱ) (x_t - √ᾱ m) / v`` with
``v = ᾱ s² + 1 - ᾱ``; with it every sampler must return N(m, s² I), and L_simple has the value
``1 - (1-ᾱ)/v`` per dimension, averaged over t.
"""

import math

import pytest
import torch

from dyngeo.models.diffusion import (EpsMLP, Schedule, ddim_sample, ddpm_sample, flow_sample, inpaint, posterior,
                                     q_sample, simple_loss, timestep_embedding)

torch.set_num_threads(1)
M, S = 1.5, 0.5


def noisy(T=200):
    """A schedule that ends in noise (ᾱ_{T-1} ≈ 5e-5), so that x_T ~ N(0, I) is the right start."""
    return Schedule.linear(T=T, beta_start=1e-4, beta_end=0.1)


def exact_eps(schedule, m=M, s=S):
    """E[ε | x_t] for Gaussian data; between integer levels ᾱ comes from σ interpolated linearly in t,
    the interpolation :func:`flow_sample` inverts."""
    table = schedule.sigma(torch.arange(-1, schedule.T))

    def eps(x, t):
        t = t.double().clamp(0, schedule.T - 1)
        k = t.floor().long().clamp(max=schedule.T - 2)
        sigma = table[k + 1] + (t - k) * (table[k + 2] - table[k + 1])
        a = (1 / (1 + sigma**2)).to(x).reshape(-1, *([1] * (x.dim() - 1)))
        return (1 - a).sqrt() * (x - a.sqrt() * m) / (a * s**2 + 1 - a)
    return eps


def test_schedules_match_their_formulas():
    lin = Schedule.linear(T=50, beta_start=1e-3, beta_end=0.1)
    assert torch.allclose(lin.betas, torch.linspace(1e-3, 0.1, 50, dtype=torch.float64))
    assert torch.allclose(lin.alpha_bar[7], torch.prod(1 - lin.betas[:8]))
    cos = Schedule.cosine(T=100)
    f = lambda t: math.cos((t / 100 + 0.008) / 1.008 * math.pi / 2) ** 2
    assert abs(float(cos.alpha_bar[39]) - f(40) / f(0)) < 1e-12
    assert float(cos.abar(-1)) == 1.0 and float(cos.sigma(-1)) == 0.0
    with pytest.raises(ValueError, match="in \\(0, 1\\)"):
        Schedule([0.1, 1.2])
    with pytest.raises(ValueError, match="integers"):
        lin.abar(torch.tensor([50]))


def test_q_sample_moments():
    sch = Schedule.linear(T=100)
    g = torch.Generator().manual_seed(0)
    x0 = torch.full((20000, 1), M, dtype=torch.float64)
    xt = q_sample(x0, 60, sch, torch.randn(x0.shape, generator=g, dtype=torch.float64))
    a = float(sch.alpha_bar[60])
    assert abs(xt.mean() - math.sqrt(a) * M) < 0.03 and abs(xt.var() - (1 - a)) < 0.03
    with pytest.raises(ValueError, match="shape of x0"):
        q_sample(x0, 1, sch, torch.randn(3, 1))


def test_posterior_with_unit_stride_is_ddpm_reverse_mean():
    sch = Schedule.linear(T=100)
    g = torch.Generator().manual_seed(1)
    xt, eps = torch.randn(5, 3, generator=g, dtype=torch.float64), torch.randn(5, 3, generator=g, dtype=torch.float64)
    t = 40
    a, at, bt = float(sch.alpha_bar[t]), float(sch.alphas[t]), float(sch.betas[t])
    x0 = (xt - math.sqrt(1 - a) * eps) / math.sqrt(a)
    mean, var = posterior(sch, xt, x0, t, t - 1)
    assert torch.allclose(mean, (xt - bt / math.sqrt(1 - a) * eps) / math.sqrt(at))  # DDPM eq. 11
    assert abs(var - (1 - float(sch.alpha_bar[t - 1])) / (1 - a) * bt) < 1e-15  # β̃_t, DDPM eq. 7


def test_simple_loss_of_the_exact_predictor_is_the_posterior_variance():
    sch = Schedule.linear(T=200)
    g = torch.Generator().manual_seed(2)
    x0 = M + S * torch.randn(40000, 2, generator=g, dtype=torch.float64)
    a = sch.alpha_bar
    expected = float((1 - (1 - a) / (a * S**2 + 1 - a)).mean())
    loss = float(simple_loss(exact_eps(sch), x0, sch, generator=g))
    assert abs(loss - expected) < 0.01, (loss, expected)
    assert loss < 0.9 * float(simple_loss(lambda x, t: torch.zeros_like(x), x0, sch, generator=g))


@pytest.mark.parametrize("sampler", [
    lambda e, s, x, g: ddpm_sample(e, s, x, h=1, generator=g),
    lambda e, s, x, g: ddim_sample(e, s, x, h=1),
    lambda e, s, x, g: ddim_sample(e, s, x, h=1, eta=1.0, generator=g),
    lambda e, s, x, g: flow_sample(e, s, x, h=10, method="rk4"),
], ids=["ddpm", "ddim", "ddim-eta1", "flow-rk4-h10"])
def test_samplers_with_the_exact_predictor_return_the_data_distribution(sampler):
    sch = noisy()
    g = torch.Generator().manual_seed(3)
    x = sampler(exact_eps(sch), sch, torch.randn(8000, 2, generator=g, dtype=torch.float64), g)
    assert abs(float(x.mean()) - M) < 0.03 and abs(float(x.std()) - S) < 0.03, (float(x.mean()), float(x.std()))


def test_strided_ddpm_loses_spread_that_the_exact_reverse_keeps():
    # q(x_s | x_t, x̂_0) ignores Var(x_0 | x_t): harmless for h = 1, a visible loss of spread for large h.
    sch = noisy()
    g = torch.Generator().manual_seed(6)
    xT = torch.randn(8000, 2, generator=g, dtype=torch.float64)
    std = lambda h: float(ddpm_sample(exact_eps(sch), sch, xT, h=h, generator=g).std())
    assert abs(std(1) - S) < 0.02 and std(40) < S - 0.05


def test_flow_with_euler_is_ddim_and_rk4_beats_euler_at_large_steps():
    sch = noisy()
    g = torch.Generator().manual_seed(4)
    xT = torch.randn(4000, 1, generator=g, dtype=torch.float64)
    eps = exact_eps(sch)
    assert torch.allclose(flow_sample(eps, sch, xT, h=20, method="euler"), ddim_sample(eps, sch, xT, h=20), atol=1e-10)
    # The exact flow maps a standard normal quantile to the same quantile of N(m, s²): x_0 = m + s x_T (up to ᾱ_T).
    a = float(sch.alpha_bar[-1])
    target = M + S * (xT - math.sqrt(a) * M) / math.sqrt(a * S**2 + 1 - a)
    err = lambda x: float((x - target).abs().max())
    assert err(flow_sample(eps, sch, xT, h=40, method="rk4")) < 0.5 * err(flow_sample(eps, sch, xT, h=40, method="euler"))


def test_inpaint_keeps_the_known_region_and_fills_the_rest_from_the_model():
    sch = noisy(100)
    g = torch.Generator().manual_seed(5)
    x_known = torch.full((3000, 4), -7.0, dtype=torch.float64)
    known = torch.tensor([True, False, True, False])
    out = inpaint(exact_eps(sch), sch, x_known, known, h=2, generator=g)
    assert torch.equal(out[:, known], x_known[:, known])
    fill = out[:, ~known]  # independent pixels: the unknown ones follow the data distribution
    assert abs(float(fill.mean()) - M) < 0.05 and abs(float(fill.std()) - S) < 0.05
    with pytest.raises(ValueError, match="boolean"):
        inpaint(exact_eps(sch), sch, x_known, known.double())


def test_eps_mlp_shapes_errors_and_timestep_embedding():
    net = EpsMLP(3, hidden=16, depth=2, time_dim=8)
    x = torch.randn(5, 3)
    assert net(x, torch.arange(5)).shape == (5, 3) and net(x, torch.tensor(2.5)).shape == (5, 3)
    with pytest.raises(ValueError, match=r"\[B, 3\]"):
        net(torch.randn(5, 4), torch.arange(5))
    emb = timestep_embedding(torch.tensor([0.0, 3.0]), 6)
    assert torch.allclose(emb[0], torch.tensor([0.0, 0, 0, 1, 1, 1]))
    with pytest.raises(ValueError, match="positive integer"):
        ddpm_sample(net, Schedule.linear(10), x, h=0)
