"""dyngeo.models.chart_autoencoder: shapes, the loss by hand, selection, gradients, a circle covered by charts."""

import math

import pytest
import torch

from dyngeo.models.chart_autoencoder import ChartAutoencoder

torch.set_num_threads(1)


def test_shapes_and_sampling():
    torch.manual_seed(0)
    m = ChartAutoencoder(5, 2, n_charts=3, hidden=(16, 16))
    x = torch.randn(7, 5)
    mu, logvar = m.encode(x)
    assert mu.shape == logvar.shape == (7, 3, 2)
    assert m.decode_all(mu).shape == (7, 3, 5) and m.chart_logits(mu).shape == (7, 3)
    xs, chart = m.sample(11, generator=torch.Generator().manual_seed(0), return_chart=True)
    assert xs.shape == (11, 5) and chart.shape == (11,) and chart.max() < 3
    xs2 = m.sample(11, generator=torch.Generator().manual_seed(0))
    assert torch.equal(xs, xs2)
    with pytest.raises(ValueError, match="x must have shape"):
        m.encode(torch.randn(7, 4))
    with pytest.raises(ValueError, match="z must have shape"):
        m.decode_all(torch.randn(7, 2, 2))


def test_sample_decodes_the_selected_chart():
    torch.manual_seed(1)
    m = ChartAutoencoder(3, 1, n_charts=4, hidden=(8,))
    g = torch.Generator().manual_seed(3)
    xs, chart = m.sample(20, generator=g, return_chart=True)
    z = torch.randn(20, 4, 1, generator=torch.Generator().manual_seed(3))
    assert torch.equal(chart, m.chart_logits(z).argmax(1))
    expected = torch.stack([m.decoders[c](z[i, c][None])[0] for i, c in enumerate(chart.tolist())])
    torch.testing.assert_close(xs, expected)


def test_loss_by_hand():
    torch.manual_seed(2)
    m = ChartAutoencoder(4, 2, n_charts=2, hidden=(8,), sigma=0.5)
    x = torch.randn(6, 4)
    g = torch.Generator().manual_seed(0)
    loss = m.loss(x, beta=0.3, gamma=0.7, generator=g)
    mu, logvar = m.encode(x)
    eps = torch.randn(mu.shape, generator=torch.Generator().manual_seed(0))
    z = mu + (0.5 * logvar).exp() * eps
    err = torch.stack([((m.decoders[i](z[:, i]) - x) ** 2).sum(1) / (2 * 0.25) for i in range(2)], 1)
    logits = m.selector(torch.cat([z[:, 0], z[:, 1]], 1))
    w = logits.softmax(1)
    kl = sum(torch.distributions.kl_divergence(
        torch.distributions.Normal(mu[:, i], (0.5 * logvar[:, i]).exp()), torch.distributions.Normal(0.0, 1.0)).sum(1)
        for i in range(2))
    ce = -logits.log_softmax(1)[torch.arange(6), err.argmin(1)].mean()
    torch.testing.assert_close(loss, (w * err).sum(1).mean() + 0.3 * kl.mean() + 0.7 * ce)
    loss.backward()
    assert all(p.grad is not None for p in m.parameters())


def test_charts_cover_a_circle_without_filling_it():
    torch.manual_seed(0)
    th = torch.rand(600, generator=torch.Generator().manual_seed(0)) * 2 * math.pi
    X = torch.stack([th.cos(), th.sin()], 1)
    m = ChartAutoencoder(2, 1, n_charts=3, hidden=(32, 32), sigma=0.05)
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(1)
    for _ in range(600):
        loss = m.loss(X[torch.randint(600, (128,), generator=g)], generator=g)
        opt.zero_grad()
        loss.backward()
        opt.step()
    xr, chart = m.reconstruct(X)
    assert (xr - X).norm(dim=1).mean() < 0.15
    assert len(chart.unique()) >= 2  # the circle is split among charts
    xs = m.sample(500, generator=torch.Generator().manual_seed(2))
    assert (xs.norm(dim=1) - 1).abs().median() < 0.15  # samples stay near the circle
