"""GridVAE, the rounding KL, the VAE-classifier, purification and the patch attack against independent
references: a brute-force mixture over every grid centre (torch.distributions), torch.distributions'
Gaussian KL, quadrature of the mixture KL, and the closed-form optimum of a patch attack on a linear model."""

import itertools
import math

import numpy as np
import pytest
import torch
from torch import distributions as D

from dyngeo.attacks.patch import patch_mask, patch_nag, patch_pgd
from dyngeo.models.gridvae import GridVAE, VAEClassifier, grid_log_prior, purify, rounding_kl, two_digit_images

torch.set_num_threads(1)
VALUES = (-2, -1, 0, 1, 2, 3)


def brute_prior(z, values, sigma):
    centres = torch.tensor(list(itertools.product(values, repeat=z.shape[1])), dtype=z.dtype)
    mix = D.MixtureSameFamily(D.Categorical(torch.ones(len(centres), dtype=z.dtype)),
                              D.Independent(D.Normal(centres, sigma * torch.ones_like(centres)), 1))
    return mix.log_prob(z), centres


@pytest.mark.parametrize("dim,values,sigma", [(2, VALUES, 1 / 3), (3, (0, 1, 2, 5), 0.7), (1, (0,), 0.2)])
def test_grid_prior_equals_brute_force_mixture(dim, values, sigma):
    z = 4 * torch.rand(200, dim, dtype=torch.float64, generator=torch.Generator().manual_seed(dim)) - 2.5
    ref, centres = brute_prior(z, values, sigma)
    torch.testing.assert_close(grid_log_prior(z, values, sigma), ref, atol=1e-10, rtol=1e-10)


def test_most_likely_component_is_the_rounded_point():
    z = 5 * torch.rand(300, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) - 2.4  # inside [-2.4, 2.6]
    centres = torch.tensor(list(itertools.product(VALUES, repeat=2)), dtype=z.dtype)
    comp = D.Independent(D.Normal(centres, torch.full_like(centres, 1 / 3)), 1).log_prob(z[:, None])
    torch.testing.assert_close(centres[comp.argmax(1)], torch.round(z))


def test_rounding_kl_is_the_gaussian_kl_to_the_rounded_centre():
    g = torch.Generator().manual_seed(1)
    mu = 3 * torch.randn(50, 6, dtype=torch.float64, generator=g)
    logvar = torch.randn(50, 6, dtype=torch.float64, generator=g) - 2
    for s0 in (1 / 16, 0.25, 1.0):
        ref = D.kl_divergence(D.Normal(mu, (0.5 * logvar).exp()), D.Normal(torch.round(mu), s0)).sum(-1)
        torch.testing.assert_close(rounding_kl(mu, logvar, s0), ref, atol=1e-10, rtol=1e-10)
    target = torch.randint(0, 2, (50, 6), generator=g).double()
    ref = D.kl_divergence(D.Normal(mu, (0.5 * logvar).exp()), D.Normal(target, 0.25)).sum(-1)
    torch.testing.assert_close(rounding_kl(mu, logvar, 0.25, target), ref)
    partial = target.clone()
    partial[:, 3:] = float("nan")  # partially guided: the last three coordinates round
    centre = torch.cat([target[:, :3], torch.round(mu[:, 3:])], 1)
    ref = D.kl_divergence(D.Normal(mu, (0.5 * logvar).exp()), D.Normal(centre, 0.25)).sum(-1)
    torch.testing.assert_close(rounding_kl(mu, logvar, 0.25, partial), ref)


def test_rounding_kl_has_no_gradient_through_the_centre():
    mu = torch.tensor([[0.3, 1.6]], requires_grad=True)
    rounding_kl(mu, torch.zeros(1, 2), 0.5).sum().backward()
    torch.testing.assert_close(mu.grad, (mu - torch.round(mu)).detach() / 0.25)


def test_mixture_kl_one_sample_estimate_averages_to_the_kl_by_quadrature():
    model = GridVAE(4, 1, values=(-1, 0, 1), sigma=0.4).double()
    mu, logvar = torch.tensor([[0.3]], dtype=torch.float64), torch.tensor([[math.log(0.2)]], dtype=torch.float64)
    z = mu + (0.5 * logvar).exp() * torch.randn(200000, 1, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    mc = model.kl(mu.expand(len(z), 1), logvar.expand(len(z), 1), z).mean().item()
    u = torch.linspace(-4, 4, 40001, dtype=torch.float64)[:, None]
    q = D.Normal(mu[0, 0], (0.5 * logvar[0, 0]).exp())
    integrand = q.log_prob(u[:, 0]).exp() * (q.log_prob(u[:, 0]) - model.log_prior(u))
    quad = torch.trapezoid(integrand, u[:, 0]).item()
    assert abs(mc - quad) < 0.01, (mc, quad)


def test_prior_samples_cover_the_grid_uniformly():
    model = GridVAE(4, 2)
    z = model.prior_sample(36000, generator=torch.Generator().manual_seed(3))
    cells = torch.round(z).clamp(-2, 3)
    counts = torch.tensor([((cells == torch.tensor(c, dtype=z.dtype)).all(1)).sum().item()
                           for c in itertools.product(VALUES, repeat=2)])
    assert counts.min() > 850 and counts.max() < 1150  # 1000 expected in each of 36 cells


def test_guided_elbo_uses_the_targets():
    torch.manual_seed(0)
    model = GridVAE(10, 3, prior="round", sigma0=0.25)
    x = torch.rand(8, 10)
    target = torch.ones(8, 3)
    g1, g2 = torch.Generator().manual_seed(4), torch.Generator().manual_seed(4)
    mu, logvar = model.encode(x)
    z = model.reparameterize(mu, logvar, g2)
    ref = model.log_likelihood(x, z) - rounding_kl(mu, logvar, 0.25, target)
    torch.testing.assert_close(model.elbo(x, generator=g1, target=target), ref)


def test_vae_classifier_loss_is_eq29():
    torch.manual_seed(0)
    model = VAEClassifier(12, 3, 4)
    x, y = torch.rand(6, 12), torch.randint(0, 4, (6,))
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    mu, logvar = model.encode(x)
    z = model.reparameterize(mu, logvar, g2)
    log_h = torch.log_softmax(model.head(z), 1)[torch.arange(6), y]
    ref = -(model.log_likelihood(x, z) - model.kl(mu, logvar, z) + 2.5 * log_h).mean()
    torch.testing.assert_close(model.loss(x, y, lam=2.5, generator=g1), ref)
    torch.testing.assert_close(model(x), model.head(mu))


def _mean_elbo(model, x, n=400):
    with torch.no_grad():
        return model.elbo(x.repeat(n, 1), generator=torch.Generator().manual_seed(9)).reshape(n, -1).mean(0)


def test_purification_stays_feasible_and_raises_the_elbo():
    torch.manual_seed(1)
    model = VAEClassifier(16, 2, 3).double()
    x = torch.rand(5, 16, dtype=torch.float64)
    g = torch.Generator().manual_seed(6)
    for eps in (None, 0.1):
        out = purify(model, x, steps=30, alpha=0.02, eps=eps, samples=16, generator=g)
        assert out.min() >= 0 and out.max() <= 1
        if eps is not None:
            assert (out - x).abs().max() <= eps + 1e-12
        assert (_mean_elbo(model, out) > _mean_elbo(model, x)).all()
    assert torch.equal(purify(model, x, steps=0), x)


def test_patch_attack_moves_only_the_patch_and_reaches_the_linear_optimum():
    torch.manual_seed(2)
    W = torch.randn(3, 1, 4, 4, dtype=torch.float64)
    model = lambda x: torch.einsum("bchw,kchw->bk", x, W)  # a linear classifier, logits W·x
    x = torch.rand(6, 1, 4, 4, dtype=torch.float64)
    y = model(x).argmax(1)
    mask = patch_mask((1, 4, 4), 1, 1, 2, 2, dtype=torch.float64)
    adv = patch_pgd(model, x, y, mask, steps=200, alpha=0.02)
    torch.testing.assert_close(adv * (1 - mask), x * (1 - mask), atol=0, rtol=0)
    assert adv.min() >= 0 and adv.max() <= 1
    # Closed form: the cross-entropy is convex in x, so its maximum over the patch box [0, 1]^4 is at a corner;
    # enumerate all 16 corners and compare the loss reached.
    ce = lambda v: torch.nn.functional.cross_entropy(model(v), y, reduction="none")
    best = torch.full((6,), -math.inf, dtype=torch.float64)
    inside = mask.bool().expand_as(x)
    for corner in itertools.product((0.0, 1.0), repeat=4):
        v = x.clone()
        v[inside] = torch.tensor(corner, dtype=torch.float64).repeat(6)
        best = torch.maximum(best, ce(v))
    assert torch.all(ce(adv) >= best - 1e-3)
    # the Nesterov variant: momentum may park a pixel on the wrong bound, so it need not reach the optimum,
    # but it stays in the patch and the box and raises the loss above the clean one
    nag = patch_nag(model, x, y, mask, steps=200, alpha=0.02)
    torch.testing.assert_close(nag * (1 - mask), x * (1 - mask), atol=0, rtol=0)
    assert nag.min() >= 0 and nag.max() <= 1 and torch.all(ce(nag) > ce(x))


def test_patch_mask_and_errors():
    m = patch_mask((8, 8), 0, 2, 3, 4)
    assert m.sum() == 12 and m[0:3, 2:6].all()
    with pytest.raises(ValueError, match="does not fit"):
        patch_mask((8, 8), 6, 0, 3, 3)
    with pytest.raises(ValueError, match="broadcast"):
        patch_pgd(lambda v: v.flatten(1), torch.zeros(2, 1, 4, 4), torch.zeros(2, dtype=torch.long), torch.ones(3, 3))


def test_two_digit_images():
    rng = np.random.default_rng(0)
    images, labels = rng.random((40, 8, 8)), np.arange(40) % 10
    x, pairs, label = two_digit_images(images, labels, 100, classes=6, seed=1)
    assert x.shape == (100, 8, 16) and (pairs < 6).all()
    torch.testing.assert_close(label, 6 * pairs[:, 0] + pairs[:, 1])
    for i in range(5):  # each half is one of the source images of its label
        for half, k in ((x[i, :, :8], pairs[i, 0]), (x[i, :, 8:], pairs[i, 1])):
            src = torch.as_tensor(images[labels == k.item()], dtype=torch.float32)
            assert ((src - half).abs().amax((1, 2)) == 0).any()
    with pytest.raises(ValueError, match="below"):
        two_digit_images(images, labels + 10, 5)


def test_bad_arguments():
    with pytest.raises(ValueError, match="prior"):
        GridVAE(4, 2, prior="full")
    with pytest.raises(ValueError, match="sigma0"):
        rounding_kl(torch.zeros(1, 2), torch.zeros(1, 2), 0.0)
    with pytest.raises(ValueError, match="shape of mu"):
        rounding_kl(torch.zeros(1, 2), torch.zeros(1, 2), 0.5, target=torch.zeros(1, 3))
    with pytest.raises(ValueError, match=r"\[B, d\]"):
        grid_log_prior(torch.zeros(3), VALUES, 0.3)


def test_shipped_vae_classifier_purification_recovers_some_patched_digits():
    """A small subset of chapter 12's purification experiment on the shipped VAE-classifier (seed 0)."""
    from dyngeo.checkpoints import make_image_manifold_densities as ck

    model = ck.models("clf")[0]
    _, _, Xte, yte = ck.digit_data()
    x, y = Xte[:80].reshape(-1, 1, 8, 8), yte[:80]
    f = lambda v: model(v.flatten(1))
    mask = patch_mask((1, 8, 8), 2, 2, 3, 3)
    adv = patch_pgd(f, x, y, mask, steps=60, alpha=0.05)
    pur = purify(model, adv, steps=60, alpha=0.02, samples=4, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        clean, attacked, purified = ((f(v).argmax(1) == y).float().mean().item() for v in (x, adv, pur))
    assert clean > 0.95 and attacked < 0.3 and purified > attacked
