"""Carlini–Wagner L2 against torchattacks and a closed form; Madry adversarial training (full and
restricted to a subspace) against its own promise: robustness improves where it trained."""

import pytest
import torch

from dyngeo.attacks.adversarial_training import adversarial_training
from dyngeo.attacks.carlini_wagner import cw_l2, cw_objective
from dyngeo.attacks.gradient import pgd

torch.set_num_threads(1)


def positive_logit_model():
    """Positive logits (softplus head): torchattacks' margin max((1 − onehot) Z) is then the true
    max over the other classes, so both implementations optimise the same objective."""
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 32), torch.nn.Tanh(), torch.nn.Linear(32, 3),
                               torch.nn.Softplus()).double().eval()


def test_cw_matches_torchattacks():
    torchattacks = pytest.importorskip("torchattacks")
    model = positive_logit_model()
    g = torch.Generator().manual_seed(1)
    x = 0.05 + 0.9 * torch.rand(12, 1, 4, 4, generator=g, dtype=torch.float64)
    y = model(x).argmax(1)
    ours, ok = cw_l2(model, x, y, c=5.0, steps=50, lr=0.01)
    theirs = torchattacks.CW(model, c=5.0, kappa=0, steps=50, lr=0.01)(x, y)
    assert ok.sum() >= 3
    assert torch.allclose(ours, theirs, atol=1e-5), (ours - theirs).abs().max()
    assert torch.equal(ok, (model(theirs).argmax(1) != y))


def test_cw_objective_and_a_linear_closed_form():
    """Two classes with logits (0, w·x + b): the closest L2 adversary of x is at distance |w·x + b| / ‖w‖;
    with binary search on c, C&W gets there (from above, it is misclassified)."""
    w = torch.tensor([0.6, -0.8], dtype=torch.float64)
    model = torch.nn.Linear(2, 2).double()
    with torch.no_grad():
        model.weight.copy_(torch.stack([torch.zeros(2, dtype=torch.float64), w]))
        model.bias.copy_(torch.tensor([0.0, 0.1], dtype=torch.float64))
    x = torch.tensor([[0.3, 0.5], [0.7, 0.2], [0.5, 0.5], [0.2, 0.3]], dtype=torch.float64)
    y = model(x).argmax(1)
    adv, ok = cw_l2(model, x, y, c=0.1, steps=300, lr=0.01, search_steps=8)
    assert ok.all() and (model(adv).argmax(1) != y).all()
    dist = (adv - x).norm(dim=1)
    exact = (x @ w + 0.1).abs() / w.norm()
    assert (dist >= exact - 1e-9).all() and torch.allclose(dist, exact, rtol=0.05, atol=2e-3)
    logits = torch.tensor([[1.0, 3.0, 2.0]], dtype=torch.float64)
    val = cw_objective(logits, torch.tensor([1]), torch.ones(1, 2, dtype=torch.float64),
                       torch.zeros(1, 2, dtype=torch.float64), c=2.0, kappa=0.5)
    assert torch.allclose(val, torch.tensor([2.0 + 2.0 * 1.0], dtype=torch.float64))
    with pytest.raises(ValueError, match="box"):
        cw_l2(model, x + 1, y)


def blobs(n, g):
    """Two Gaussian classes on the plane spanned by the first two of ten coordinates (the other eight,
    the normal space, are zero in the data)."""
    y = torch.randint(0, 2, (n,), generator=g)
    X = torch.randn(n, 2, generator=g, dtype=torch.float64) * 0.5 + (2 * y[:, None] - 1) * torch.tensor(
        [1.0, 0.0], dtype=torch.float64)
    return torch.cat([X, torch.zeros(n, 8, dtype=torch.float64)], 1), y


def net():
    return torch.nn.Sequential(torch.nn.Linear(10, 64), torch.nn.ReLU(), torch.nn.Linear(64, 2)).double()


def robust_accuracy(model, X, y, eps, direction=None):
    adv = pgd(model, X, y, eps, alpha=eps / 8, steps=40, clamp=None, norm="2", direction=direction)
    return (model(adv).argmax(1) == y).double().mean().item()


def test_adversarial_training_improves_robustness_and_respects_the_subspace():
    g = torch.Generator().manual_seed(0)
    X, y = blobs(400, g)
    Xt, yt = blobs(400, g)
    torch.manual_seed(0)
    plain = net()
    from dyngeo.train import fit
    fit(plain, lambda m: torch.nn.functional.cross_entropy(m(X), y), 300, lr=1e-2, desc=None)
    torch.manual_seed(0)
    robust = net()
    adversarial_training(robust, X, y, eps=1.0, steps=300, attack_steps=7, lr=1e-2, batch_size=200, generator=g,
                         desc=None)
    assert robust_accuracy(robust, Xt, yt, 1.0) > robust_accuracy(plain, Xt, yt, 1.0) + 0.1
    # restricted to the normal space: robust along it, and no clean accuracy lost
    N = torch.eye(10, dtype=torch.float64)[:, 2:]
    torch.manual_seed(0)
    normal = net()
    adversarial_training(normal, X, y, eps=2.0, steps=300, attack_steps=7, lr=1e-2, direction=N, desc=None)
    assert robust_accuracy(normal, Xt, yt, 2.0, N) > max(0.9, robust_accuracy(plain, Xt, yt, 2.0, N) + 0.15)
    assert robust_accuracy(normal, Xt, yt, 0.0) >= robust_accuracy(plain, Xt, yt, 0.0) - 0.02
    with pytest.raises(ValueError, match="per-point basis"):
        adversarial_training(net(), X, y, 0.1, 1, direction=torch.zeros(3, 10, 2, dtype=torch.float64))
