"""The terms of Theorem 1 (Zhang et al. 2024) against closed forms on the plane, the circle and a
linear decoder; Theorem 2's construction; the inequality itself on random networks."""

import math

import numpy as np
import pytest
import scipy.linalg
import torch

from dyngeo.geometry import manifold_risk as mr

torch.set_num_threads(1)
D64 = torch.float64


def test_ball_grid_risk_of_a_linear_classifier_matches_the_margin_closed_form():
    g = torch.Generator().manual_seed(0)
    w, b, eps = torch.tensor([1.0, -2.0], dtype=D64), 0.3, 0.4
    X = torch.rand(500, 2, generator=g, dtype=D64) * 4 - 2
    y = torch.where(torch.rand(500, generator=g) < 0.5, 1.0, -1.0).double()
    score = lambda Z: Z @ w + b
    grid = mr.adversarial_risk(score, X, y, eps, n=41)
    exact = mr.linear_adversarial_risk(w, b, X, y, eps)
    margin = y * score(X) / w.norm()
    # they agree except within the grid's resolution of the margin eps (the ring has 82 points)
    assert ((grid == exact) | ((margin - eps).abs() < eps * (1 - math.cos(math.pi / 82)) + 1e-12)).all()
    assert grid.sum() > 50 and (~grid).sum() > 50
    assert torch.equal(mr.standard_risk(score, X, y), margin <= 0)


def circle_case(c, eps, n=720):
    th = torch.linspace(-math.pi, math.pi, n + 1, dtype=D64)[:-1] + 0.001
    X = mr.Circle.point(th)
    y = torch.where(X[:, 0] > c, 1.0, -1.0).double()
    return th, X, y, (lambda Z: Z[:, 0] - c)


@pytest.mark.parametrize("c, eps", [(0.3, 0.1), (-0.5, 0.25), (0.0, 0.05)])
def test_circle_terms_match_closed_forms(c, eps):
    """s(x) = x1 − c with the labels it predicts: R_std = 0; a point is at in-manifold risk within
    chord r iff its angle is within 2 arcsin(r/2) of a boundary angle ±arccos c; along the radius
    s = (1 + t) cos θ − c is linear in t, so normal risk is decided at t = ±ε."""
    th, X, y, score = circle_case(c, eps)
    t = mr.decomposition(score, X, y, eps, mr.Circle, n_in=401, n_line=33)
    assert not t["std"].any()
    b = math.acos(c)
    ang = torch.minimum((th.abs() - b).abs(), torch.full_like(th, 10.0))  # angular distance to ±b
    for key, r in (("in2", 2 * eps), ("in1", eps)):
        exact = ang <= 2 * math.asin(r / 2)
        assert ((t[key] == exact) | ((ang - 2 * math.asin(r / 2)).abs() < 2 * 2 * math.asin(r / 2) / 400)).all()
    ends = torch.stack([(1 + s) * th.cos() - c for s in (-eps, eps)], 1)
    assert torch.equal(t["nor"], ((y[:, None] * ends) <= 0).any(1))
    assert mr.summary(t)["holds"]


def test_circle_projections_in_closed_form():
    g = torch.Generator().manual_seed(3)
    Z = torch.randn(50, 2, generator=g, dtype=D64)
    P = mr.Circle.project(Z)
    assert torch.allclose(P.norm(dim=1), torch.ones(50, dtype=D64))
    assert torch.allclose((mr.Circle.normal(P) * mr.Circle.tangent(P)).sum(1), torch.zeros(50, dtype=D64))
    nb = mr.Circle.neighbours(P, 0.3, 11)
    assert (torch.linalg.norm(nb - P[:, None], dim=2) <= 0.3 + 1e-12).all()
    assert torch.allclose(torch.linalg.norm(nb[:, 0] - P, dim=1), torch.full((50,), 0.3, dtype=D64))


def test_plane_normal_risk_closed_form():
    """On the plane x3 = 0 with s = x1 − sin x2 + c x3, moving along e3 changes s by c t: a point is at
    normal risk iff its margin y (x1 − sin x2) is at most |c| ε."""
    g = torch.Generator().manual_seed(1)
    X = torch.cat([(torch.rand(400, 2, generator=g, dtype=D64) * 2 - 1) * math.pi, torch.zeros(400, 1, dtype=D64)], 1)
    y = torch.where(X[:, 0] > X[:, 1].sin(), 1.0, -1.0).double()
    c, eps = 2.0, 0.3
    score = lambda Z: Z[:, 0] - Z[:, 1].sin() + c * Z[:, 2]
    nor = mr.normal_risk(score, X, y, eps, mr.Plane(3))
    assert torch.equal(nor, y * (X[:, 0] - X[:, 1].sin()) <= c * eps)
    assert mr.Plane(3).neighbours(X[:3], 0.5).shape[1:] == (mr.ball_grid(21).shape[0], 3)


def test_theorem_2_construction():
    eps = 0.1
    x1 = torch.linspace(0, 1, 4001, dtype=D64)
    X, y = torch.stack([x1, torch.zeros_like(x1)], 1), torch.ones(4001, dtype=D64)
    for n in (10, 12):  # l1 < sqrt(3) eps / 2; the ball grid (step 2 eps / 30) must resolve l2 = 1/n²
        r = mr.summary(mr.decomposition(mr.tightness_score(n, eps), X, y, eps, mr.Segment))
        assert r["adv"] == 1.0 and r["std"] == 0.0 and r["in2"] == 0.0
        assert abs(r["nor"] - 1 / n) < 2e-3 and r["nnr"] == pytest.approx(1 - r["nor"], abs=2e-3)
        l1, l2 = mr.tightness_lengths(n)
        assert (n + 1) * l1 + n * l2 == pytest.approx(1.0)
    # n = 6 > 1 / (sqrt(3) eps) but l1 > sqrt(3) eps / 2: the end intervals A0 and An have a B on one side
    # only, and their outer parts, of length l1 - sqrt(3) eps / 2 each, are out of reach
    l1, _ = mr.tightness_lengths(6)
    adv6 = mr.adversarial_risk(mr.tightness_score(6, eps), X[::4], y[::4], eps, n=121).double().mean()
    exact = 1 - 2 * (l1 - math.sqrt(3) * eps / 2)
    assert exact - 5e-3 < adv6 <= exact + 1e-3  # the grid can only miss adversaries
    r2 = mr.summary(mr.decomposition(mr.tightness_score(2, eps), X, y, eps, mr.Segment))
    assert r2["adv"] < 1.0 and r2["holds"]
    with pytest.raises(ValueError, match="1/2"):
        mr.tightness_score(10, 0.6)


def test_inequality_holds_on_random_networks():
    th = torch.linspace(0, 2 * math.pi, 241, dtype=D64)[:-1]
    X = mr.Circle.point(th)
    y = torch.where(X[:, 0] * X[:, 1] > 0, 1.0, -1.0).double()
    for seed in range(3):
        torch.manual_seed(seed)
        net = torch.nn.Sequential(torch.nn.Linear(2, 16), torch.nn.Tanh(), torch.nn.Linear(16, 2)).double()
        for eps in (0.05, 0.2):
            r = mr.summary(mr.decomposition(mr.signed_score(net), X, y, eps, mr.Circle, n_ball=21))
            assert r["holds"] and r["adv"] >= r["std"]
    with pytest.raises(ValueError, match="labels"):
        mr.standard_risk(lambda Z: Z[:, 0], X, torch.zeros(240, dtype=D64))


def test_decoder_tangent_of_a_linear_decoder_is_its_column_space():
    g = torch.Generator().manual_seed(2)
    A = torch.randn(12, 3, generator=g, dtype=D64)
    dec = lambda z: z @ A.T + 1.0
    z = torch.randn(5, 3, generator=g, dtype=D64)
    Q = mr.decoder_tangent(dec, z)
    assert Q.shape == (5, 12, 3)
    ref = scipy.linalg.orth(A.numpy())
    v = torch.randn(5, 12, generator=g, dtype=D64)
    assert np.allclose(mr.tangent_part(v, Q).numpy(), v.numpy() @ ref @ ref.T)
    assert torch.allclose(mr.tangent_part(v, Q) + mr.normal_part(v, Q), v)
    assert torch.allclose((mr.tangent_part(v, Q) * mr.normal_part(v, Q)).sum(1), torch.zeros(5, dtype=D64), atol=1e-12)
    assert torch.allclose(mr.normal_direction(Q)(v.reshape(5, 3, 4)).reshape(5, 12), mr.normal_part(v, Q))
    with pytest.raises(ValueError, match="B, d"):
        mr.decoder_tangent(dec, z[0])


def test_checkpoint_recomputes():
    """One network of the chapter's checkpoint, retrained by its script, gives the same weights."""
    from dyngeo.checkpoints import load
    from dyngeo.checkpoints import make_manifold_risk as mk

    stored = load("manifold_risk")["circle"]["double/nor/1"]
    fresh = mk.train_circle(1, "double", "nor").state_dict()
    assert all(torch.allclose(stored[k], fresh[k], atol=1e-5) for k in stored)
