"""The Markov-chain likelihood estimator (Tu et al. eq. 23) against closed forms: Gaussian data have an
exact noise predictor ε* and an exact log-density (SciPy), and the reverse mean of eq. (18) is the
posterior mean of the DDPM posterior and, with ε*, the exact conditional mean E[x_s | x_t]."""

import math

import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal

from dyngeo.models import diffusion as dm
from dyngeo.models.diffusion_likelihood import gaussian_eps, gaussian_nll, markov_nll, reverse_mean

torch.set_num_threads(1)
VAR = 0.25


@pytest.fixture(scope="module")
def sched():
    return dm.Schedule.cosine(100)


def test_estimator_with_exact_eps_matches_the_true_nll(sched):
    x0 = torch.tensor([[0.0, 0.0], [0.3, -0.2], [1.0, 1.0]], dtype=torch.float64)
    est = markov_nll(gaussian_eps(sched, VAR), x0, sched, rounds=2000, generator=torch.Generator().manual_seed(0),
                     reduce=None)
    true = -multivariate_normal(np.zeros(2), VAR * np.eye(2)).logpdf(x0.numpy())
    np.testing.assert_allclose(gaussian_nll(x0, VAR).numpy(), true, atol=1e-12)
    err = (est.mean(0).numpy() - true)
    assert np.all(np.abs(err) < 0.1), err
    assert np.all(np.abs(err) < 4 * est.std(0).numpy() / math.sqrt(2000) + 0.06)
    assert est.mean(0)[2] > est.mean(0)[1] > est.mean(0)[0]  # farther from the mean -> less likely


def test_estimator_on_a_shifted_gaussian_in_five_dimensions(sched):
    mean = torch.tensor([0.5, -0.5, 0.2, 0.0, 1.0], dtype=torch.float64)
    x0 = mean + 0.3 * torch.randn(4, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    est = markov_nll(gaussian_eps(sched, 0.1, mean), x0, sched, rounds=1000, generator=torch.Generator().manual_seed(2))
    true = -multivariate_normal(mean.numpy(), 0.1 * np.eye(5)).logpdf(x0.numpy())
    assert np.all(np.abs(est.numpy() - true) < 0.25), (est, true)


def test_posterior_variance_is_infinite_on_the_last_step(sched):
    x0 = torch.zeros(2, 2, dtype=torch.float64)
    assert torch.isinf(markov_nll(gaussian_eps(sched, VAR), x0, sched, variance="posterior")).all()


def test_reverse_mean_is_ddpm_posterior_mean_at_x0_hat(sched):
    g = torch.Generator().manual_seed(3)
    x, eps = torch.randn(6, 2, dtype=torch.float64, generator=g), torch.randn(6, 2, dtype=torch.float64, generator=g)
    for t, s in [(10, 9), (50, 30), (99, -1), (5, -1)]:
        a_t, a_s = float(sched.abar(t)), float(sched.abar(s))
        x0_hat = (x - math.sqrt(1 - a_t) * eps) / math.sqrt(a_t)
        ref = dm.posterior(sched, x, x0_hat, t, s)[0]
        torch.testing.assert_close(reverse_mean(x, eps, a_s, a_t), ref, atol=1e-10, rtol=1e-10)
    # with s = t - 1 it is DDPM's eq. (17) written out
    t = 40
    a_t, a_s = float(sched.abar(t)), float(sched.abar(t - 1))
    eq17 = math.sqrt(a_s / a_t) * (x - (1 - a_t / a_s) / math.sqrt(1 - a_t) * eps)
    torch.testing.assert_close(reverse_mean(x, eps, a_s, a_t), eq17)


def test_reverse_mean_with_exact_eps_is_the_conditional_mean(sched):
    x = torch.randn(5, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    for t, s in [(60, 59), (60, 20), (30, -1)]:
        a_t, a_s = float(sched.abar(t)), float(sched.abar(s))
        eps = gaussian_eps(sched, VAR)(x, torch.full((5,), t))
        # x_s, x_t jointly Gaussian: E[x_s | x_t] = Cov(x_s, x_t) / Var(x_t) x_t
        cond = math.sqrt(a_t / a_s) * (a_s * VAR + 1 - a_s) / (a_t * VAR + 1 - a_t) * x
        torch.testing.assert_close(reverse_mean(x, eps, a_s, a_t), cond, atol=1e-10, rtol=1e-10)


def test_gaussian_eps_interpolates_fractional_times(sched):
    x = torch.randn(3, 2, dtype=torch.float64)
    e = gaussian_eps(sched, VAR)
    lo, hi = e(x, torch.full((3,), 10)), e(x, torch.full((3,), 11))
    mid = e(x, torch.full((3,), 10.5, dtype=torch.float64))
    assert torch.all((mid - lo) * (hi - mid) >= 0)


def test_shapes_rounds_seeds_and_errors(sched):
    eps = gaussian_eps(sched, VAR)
    x0 = torch.zeros(3, 2)
    out = markov_nll(eps, x0, sched, h=5, rounds=4, reduce=None, generator=torch.Generator().manual_seed(0))
    assert out.shape == (4, 3) and out.dtype == torch.float32
    again = markov_nll(eps, x0, sched, h=5, rounds=4, reduce=None, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(out, again)
    assert markov_nll(eps, x0, sched, h=7).shape == (3,)  # h need not divide T: the samplers' grid
    with pytest.raises(ValueError, match="positive integer"):
        markov_nll(eps, x0, sched, h=0)
    with pytest.raises(ValueError, match=r"\[B, d\]"):
        markov_nll(eps, torch.zeros(3), sched)
    with pytest.raises(ValueError, match="variance"):
        markov_nll(eps, x0, sched, variance="beta")


def test_shipped_checkpoint_models_are_trained_and_rank_the_roll_first():
    """The stored ε-networks and flows of chapter 12: small, loadable, better than an untrained network, and they
    recompute the chapter's ordering (Swiss roll above moons) on a small subset of points."""
    import pathlib

    from dyngeo.checkpoints import make_image_manifold_densities as ck

    path = pathlib.Path(ck.__file__).with_name("image_manifold_densities.pt")
    assert path.stat().st_size <= 1_000_000
    stored = ck.load("image_manifold_densities")
    sched = ck.schedule()
    roll, moons = ck.point_set("swiss_roll", 200, seed=21), ck.point_set("moons", 200, seed=21)
    g = torch.Generator().manual_seed(0)
    fresh = dm.simple_loss(ck.eps_model(), roll, sched, generator=torch.Generator().manual_seed(1)).item()
    for eps_net, flow in zip(ck.models("eps", stored), ck.models("flow", stored)):
        with torch.no_grad():
            assert dm.simple_loss(eps_net, roll, sched, generator=torch.Generator().manual_seed(1)).item() < 0.5 * fresh
            assert markov_nll(eps_net, roll, sched, rounds=2, generator=g).mean() < \
                markov_nll(eps_net, moons, sched, rounds=2, generator=g).mean()
            assert flow.log_prob(roll).mean() > flow.log_prob(moons).mean()
