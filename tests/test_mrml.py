"""MRML (Gong et al. 2025, Algorithm 1): the functional meta-step against hand-computed updates,
finite differences and a pure torch.func implementation; the three episode samplers' properties."""

import numpy as np
import pytest
import torch
from torch import nn
from torch.func import functional_call, grad

from dyngeo.models import mrml

torch.set_num_threads(1)
DT = torch.float64


class SigmoidLayer(nn.Module):
    """f(x) = sigmoid(W x + b): the smallest "autoencoder", whose BCE gradient is known in closed form."""

    def __init__(self, d, g):
        super().__init__()
        self.weight = nn.Parameter(0.5 * torch.randn(d, d, generator=g, dtype=DT))
        self.bias = nn.Parameter(0.1 * torch.randn(d, generator=g, dtype=DT))

    def forward(self, x):
        return torch.sigmoid(x @ self.weight.T + self.bias)


def _bce_grad(W, b, x):
    """Closed form: d/dlogits of mean BCE is (sigmoid - x) / (B d)."""
    r = (torch.sigmoid(x @ W.T + b) - x) / x.numel()
    return r.T @ x, r.sum(0)


def _setup(seed=0, d=5):
    g = torch.Generator().manual_seed(seed)
    model = SigmoidLayer(d, g)
    x_tr, x_te = torch.rand(7, d, generator=g, dtype=DT), torch.rand(6, d, generator=g, dtype=DT)
    return model, x_tr, x_te


def test_first_order_step_equals_the_hand_computed_update():
    model, x_tr, x_te = _setup()
    alpha, beta, gamma = 0.7, 0.5, 0.1
    W, b = model.weight.detach().clone(), model.bias.detach().clone()
    gW, gb = _bce_grad(W, b, x_tr)
    Ws, bs = W - alpha * gW, b - alpha * gb  # θ*, Algorithm 1 line 5
    tW, tb = _bce_grad(Ws, bs, x_te)
    opt = torch.optim.SGD(model.parameters(), lr=gamma)
    mrml.mldg_step(model, opt, x_tr, x_te, alpha, beta, first_order=True)
    torch.testing.assert_close(model.weight.detach(), W - gamma * (gW + beta * tW), rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(model.bias.detach(), b - gamma * (gb + beta * tb), rtol=1e-12, atol=1e-14)


def test_alpha_zero_is_a_step_on_the_weighted_sum():
    model, x_tr, x_te = _setup(1)
    W, b = model.weight.detach().clone(), model.bias.detach().clone()
    got = mrml.meta_gradient(model, x_tr, x_te, alpha=0.0, beta=0.3)
    gW, gb = _bce_grad(W, b, x_tr)
    tW, tb = _bce_grad(W, b, x_te)
    torch.testing.assert_close(got["weight"], gW + 0.3 * tW, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(got["bias"], gb + 0.3 * tb, rtol=1e-12, atol=1e-14)


def test_second_order_meta_gradient_matches_torch_func_and_finite_differences():
    model, x_tr, x_te = _setup(2)
    alpha, beta = 0.8, 1.5
    got = mrml.meta_gradient(model, x_tr, x_te, alpha, beta)
    params = {k: v.detach() for k, v in model.named_parameters()}

    def loss(p, x):
        return nn.functional.binary_cross_entropy(functional_call(model, p, (x,)), x)

    def objective(p):  # written independently, with torch.func only
        g = grad(loss)(p, x_tr)
        return loss(p, x_tr) + beta * loss({k: p[k] - alpha * g[k] for k in p}, x_te)

    ref = grad(objective)(params)
    for k in params:
        torch.testing.assert_close(got[k], ref[k], rtol=1e-10, atol=1e-13)
    first = mrml.meta_gradient(model, x_tr, x_te, alpha, beta, first_order=True)
    assert not torch.allclose(first["weight"], ref["weight"], rtol=1e-4)  # the Hessian term matters here
    # central differences of the meta-objective along a random direction
    g = torch.Generator().manual_seed(5)
    v = {k: torch.randn(p.shape, generator=g, dtype=DT) for k, p in params.items()}
    h = 1e-5
    plus = objective({k: params[k] + h * v[k] for k in params})
    minus = objective({k: params[k] - h * v[k] for k in params})
    directional = sum((got[k] * v[k]).sum() for k in params)
    assert directional.item() == pytest.approx(((plus - minus) / (2 * h)).item(), rel=1e-6)


def test_meta_gradient_approaches_the_joint_gradient_linearly_in_alpha():
    # the paper's alpha = 1e-7 makes MRML a reweighted joint batch: the gap shrinks like alpha
    model, x_tr, x_te = _setup(3)
    joint = mrml.meta_gradient(model, x_tr, x_te, 0.0, 1.0)["weight"]
    gaps = [(mrml.meta_gradient(model, x_tr, x_te, a, 1.0)["weight"] - joint).norm().item() for a in (0.04, 0.02, 0.01)]
    assert gaps[0] / gaps[1] == pytest.approx(2, rel=0.05) and gaps[1] / gaps[2] == pytest.approx(2, rel=0.05)


@pytest.fixture(scope="module")
def cloud():
    return torch.randn(120, 3, generator=torch.Generator().manual_seed(0), dtype=DT)


def test_random_sampler(cloud):
    s = mrml.EpisodeSampler(cloud, "random", 20)
    g = torch.Generator().manual_seed(1)
    seen = torch.zeros(len(cloud))
    for _ in range(50):
        tr, te = s(g)
        assert len(tr) == len(te) == 20 and len(set(tr.tolist()) | set(te.tolist())) == 40
        seen[te] += 1
    assert (seen > 0).float().mean() > 0.9  # uniform: almost every point gets drawn


def test_nearest_sampler_takes_each_train_points_nearest_outsider(cloud):
    s = mrml.EpisodeSampler(cloud, "nearest", 25)
    tr, te = s(torch.Generator().manual_seed(2))
    assert len(tr) == len(te) == 25 and not set(tr.tolist()) & set(te.tolist())
    D = torch.cdist(cloud, cloud)
    outside = torch.ones(len(cloud), dtype=torch.bool)
    outside[tr] = False
    for i, j in zip(tr.tolist(), te.tolist()):
        assert D[i, j] == D[i][outside].min()


def test_hole_sampler_returns_a_whole_neighbourhood(cloud):
    s = mrml.EpisodeSampler(cloud, "hole", 30)
    for seed in range(5):
        tr, te = s(torch.Generator().manual_seed(seed))
        assert len(tr) == len(te) == 30 and not set(tr.tolist()) & set(te.tolist())
        d = (cloud - cloud[te[0]]).norm(dim=1)
        rest = torch.ones(len(cloud), dtype=torch.bool)
        rest[te] = False
        assert d[te].max() <= d[rest].min()  # nothing outside the test batch is closer to the anchor
        assert d[te[0]] == 0


def test_sampler_arguments(cloud):
    with pytest.raises(ValueError, match="kind"):
        mrml.EpisodeSampler(cloud, "holes", 10)
    with pytest.raises(ValueError, match="batch"):
        mrml.EpisodeSampler(cloud, "random", 61)


def test_training_lowers_the_loss_and_is_seeded():
    torch.manual_seed(0)
    X = torch.rand(80, 12)
    losses = []
    for sampler in (None, "hole"):
        for _ in range(2):
            torch.manual_seed(0)
            model = mrml.Autoencoder(12, latent=3, hidden=(16,))
            h = mrml.fit_mrml(model, X, sampler, steps=60, lr=1e-2, alpha=0.1, beta=1.0, batch=16, seed=4)
            losses.append(h["train"])
        assert losses[-1] == losses[-2]  # same seed, same run
        assert np.mean(losses[-1][-10:]) < np.mean(losses[-1][:10])
        assert len(h["test"]) == (0 if sampler is None else 60)


def test_manifold_report_of_a_perfect_reconstruction_is_zero():
    X = torch.rand(40, 6, generator=torch.Generator().manual_seed(1))
    report = mrml.manifold_report(X, X.clone())
    assert set(report) == {"MSE", "W1 H0", "W1 H1", "W1 total", "W2 H0", "W2 H1", "W2 total", "spectral k=5",
                           "spectral k=20"}
    assert all(v == 0 for v in report.values())
    worse = mrml.manifold_report(X, X + 0.2 * torch.rand(40, 6, generator=torch.Generator().manual_seed(2)))
    assert worse["MSE"] > 0 and worse["W2 H0"] > 0 and worse["W1 total"] >= worse["W2 total"]


def test_shipped_checkpoint_is_what_the_code_trains():
    # recompute one run of dyngeo.checkpoints.make_mrml: the seed-0 plain autoencoder and its scores
    from dyngeo.checkpoints import load
    from dyngeo.checkpoints import make_mrml as ck

    ckpt = load("mrml")
    G = ck.dataset()
    model, _ = ck.train(G.X[G.train], None, 0.0, 0.0, ck.BATCH, seed=0)
    for k, v in ckpt["models"]["AE"].items():
        torch.testing.assert_close(model.state_dict()[k], v, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(ck.score(model, G.X, G.hold), ckpt["scores"]["AE"][0].numpy(), rtol=1e-3, atol=1e-5)
    assert ckpt["alpha"] in ck.ALPHA_GRID and ckpt["alpha"] == min(ckpt["val_scores"], key=ckpt["val_scores"].get)
    assert sum(p.numel() for p in ckpt["models"]["AE"].values()) * 4 * len(ckpt["models"]) < 1_000_000
