"""dyngeo.models.vae against torch.distributions: log-likelihoods, the analytic KL and the ELBO's parts."""

import pytest
import torch
from torch.distributions import Bernoulli, Normal, kl_divergence

from dyngeo.models.vae import VAE

torch.set_num_threads(1)


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_elbo_is_log_likelihood_minus_beta_kl(likelihood):
    torch.manual_seed(0)
    vae = VAE(6, 2, hidden=(16,), likelihood=likelihood, sigma=0.3).double()
    x = torch.rand(7, 6, dtype=torch.float64)
    mu, logvar = vae.encode(x)
    z = vae.reparameterize(mu, logvar, torch.Generator().manual_seed(1))
    out = vae.decoder(z)
    ref = (Bernoulli(logits=out, validate_args=False) if likelihood == "bernoulli" else Normal(out, 0.3)).log_prob(x).sum(1)
    assert torch.allclose(vae.log_likelihood(x, z), ref)
    kl = kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0)).sum(1)
    assert torch.allclose(vae.kl(mu, logvar, z), kl)
    elbo = vae.elbo(x, beta=0.5, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(elbo, ref - 0.5 * kl)


def test_training_raises_the_elbo_and_errors_name_the_problem():
    torch.manual_seed(0)
    x = (torch.rand(256, 10) < torch.linspace(0.1, 0.9, 10)).float()
    vae = VAE(10, 2, hidden=(32,))
    opt = torch.optim.Adam(vae.parameters(), lr=1e-2)
    before = float(vae.elbo(x).mean().detach())
    for _ in range(150):
        opt.zero_grad()
        (-vae.elbo(x).mean()).backward()
        opt.step()
    assert float(vae.elbo(x).mean().detach()) > before + 1.0
    assert vae.sample(4).shape == (4, 10) and 0 <= float(vae.sample(4).min())
    with pytest.raises(ValueError, match=r"\[B, 10\]"):
        vae.encode(torch.rand(3, 9))
    with pytest.raises(ValueError, match="likelihood"):
        VAE(3, 1, likelihood="poisson")
