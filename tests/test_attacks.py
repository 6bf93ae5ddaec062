"""dyngeo.attacks.pgd in L2 and L∞, restricted to a subspace and projected onto a manifold, against closed forms."""

import math

import pytest
import torch

from dyngeo.attacks import pgd


def linear_model(w):
    """Two-class logits (0, w·x): the input gradient of the cross-entropy for label 0 is along +w."""
    model = torch.nn.Linear(w.numel(), 2, bias=False).double()
    with torch.no_grad():
        model.weight.copy_(torch.stack([torch.zeros_like(w), w]))
    return model


def test_l2_steps_follow_the_unit_gradient_and_stay_in_the_ball():
    w = torch.tensor([3.0, 4.0], dtype=torch.float64)
    x, y = torch.zeros(5, 2, dtype=torch.float64), torch.zeros(5, dtype=torch.long)
    one = pgd(linear_model(w), x, y, eps=10.0, alpha=0.5, steps=1, clamp=None, norm="2")
    assert torch.allclose(one, 0.5 * w / 5)  # one step of length alpha along w/|w|
    many = pgd(linear_model(w), x, y, eps=1.0, alpha=0.5, steps=10, clamp=None, norm="2")
    assert torch.allclose(many.norm(dim=1), torch.ones(5, dtype=torch.float64))  # stopped on the sphere
    linf = pgd(linear_model(w), x, y, eps=0.3, alpha=0.1, steps=10, clamp=None)
    assert torch.allclose(linf, torch.full_like(x, 0.3))  # the corner of the L∞ ball


def test_direction_restricts_the_steps_to_the_subspace():
    w = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    Q = torch.tensor([[1.0], [0.0], [0.0]], dtype=torch.float64)
    x, y = torch.zeros(4, 3, dtype=torch.float64), torch.zeros(4, dtype=torch.long)
    adv = pgd(linear_model(w), x, y, float("inf"), alpha=0.2, steps=3, clamp=None, norm="2", direction=Q)
    assert torch.allclose(adv, torch.tensor([0.6, 0.0, 0.0], dtype=torch.float64).expand(4, 3))
    same = pgd(linear_model(w), x, y, float("inf"), alpha=0.2, steps=3, clamp=None, norm="2",
               direction=lambda g: g * torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64))
    assert torch.equal(adv, same)
    with pytest.raises(ValueError, match="basis"):
        pgd(linear_model(w), x, y, 1.0, steps=1, direction=torch.ones(2, 1, dtype=torch.float64))


def test_projection_keeps_the_iterates_on_the_circle_and_stop_on_flip_freezes_them():
    w = torch.tensor([0.0, 1.0], dtype=torch.float64)  # class 1 wins above the x-axis
    angles = torch.tensor([-0.5, -1.0, -1.5], dtype=torch.float64)
    x = torch.stack([torch.cos(angles), torch.sin(angles)], 1)
    y = torch.zeros(3, dtype=torch.long)
    trace = []
    adv = pgd(linear_model(w), x, y, float("inf"), alpha=0.1, steps=40, clamp=None, norm="2",
              project=lambda z: z / z.norm(dim=1, keepdim=True), stop_on_flip=True, trace=trace)
    assert torch.allclose(adv.norm(dim=1), torch.ones(3, dtype=torch.float64))
    assert (adv[:, 1] > 0).all() and (adv[:, 1] < 0.1).all()  # each stopped right after crossing the axis
    moved = torch.stack([m for _, m in trace]).sum(0)
    assert moved.tolist() == sorted(moved.tolist())  # the points further below the axis took more steps
    assert math.isclose(float(moved[0]), 6, abs_tol=1)


def test_bad_arguments_are_named():
    x, y = torch.zeros(2, 2, dtype=torch.float64), torch.zeros(2, dtype=torch.long)
    model = linear_model(torch.ones(2, dtype=torch.float64))
    with pytest.raises(ValueError, match="norm"):
        pgd(model, x, y, 1.0, norm="1")
    with pytest.raises(ValueError, match="alpha"):
        pgd(model, x, y, float("inf"))


def classifier():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 32), torch.nn.Tanh(),
                               torch.nn.Linear(32, 3)).double().eval()


@pytest.mark.parametrize("norm, name, eps, alpha", [("inf", "PGD", 0.1, 0.02), ("2", "PGDL2", 0.5, 0.1)])
def test_pgd_matches_torchattacks(norm, name, eps, alpha):
    """The same model, inputs and budget give the same adversaries as torchattacks (no random start)."""
    torchattacks = pytest.importorskip("torchattacks")
    model = classifier()
    g = torch.Generator().manual_seed(1)
    x = torch.rand(8, 1, 4, 4, generator=g, dtype=torch.float64)
    y = torch.randint(0, 3, (8,), generator=g)
    ours = pgd(model, x, y, eps, alpha=alpha, steps=15, norm=norm)
    theirs = getattr(torchattacks, name)(model, eps=eps, alpha=alpha, steps=15, random_start=False)(x, y)
    assert (ours - x).abs().max() > alpha / 2  # the attack moved
    assert torch.allclose(ours, theirs.to(ours.dtype), atol=1e-9)
