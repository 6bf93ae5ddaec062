"""dyngeo.data.manifolds: points lie on their spaces (closed forms), seeds, shapes, image symmetries."""

import math

import pytest
import torch

from dyngeo.data import manifolds as M
from dyngeo.geometry import topology as T


def test_points_satisfy_their_equations():
    X, th = M.circle(200, radius=2.0, seed=0)
    assert X.shape == (200, 2) and X.dtype == torch.float32 and th.shape == (200, 1)
    torch.testing.assert_close(X.norm(dim=1), torch.full((200,), 2.0))
    torch.testing.assert_close(X, 2.0 * torch.cat([th.cos(), th.sin()], 1))
    X, p = M.sphere(300, seed=0)
    torch.testing.assert_close(X.norm(dim=1), torch.ones(300))
    torch.testing.assert_close(X[:, 2], p[:, 0].cos())
    X, p = M.torus(500, R=2.0, r=0.5, seed=0)
    rho = (X[:, :2].norm(dim=1) - 2.0) ** 2 + X[:, 2] ** 2  # (√(x²+y²) − R)² + z² = r²
    torch.testing.assert_close(rho, torch.full((500,), 0.25), atol=1e-5, rtol=0)
    X, p = M.flat_torus(100, r1=1.0, r2=3.0, seed=0)
    torch.testing.assert_close(X[:, :2].norm(dim=1), torch.ones(100))
    torch.testing.assert_close(X[:, 2:].norm(dim=1), torch.full((100,), 3.0))


def test_torus_area_uniform_sampling():
    # uniform for area: the density of v is proportional to R + r cos v, so E[cos v] = r / (2R)
    _, p = M.torus(40000, R=2.0, r=1.0, seed=1)
    assert p[:, 1].cos().mean().item() == pytest.approx(0.25, abs=0.015)
    _, p = M.torus(40000, R=2.0, r=1.0, uniform_area=False, seed=1)
    assert p[:, 1].cos().mean().item() == pytest.approx(0.0, abs=0.015)


def test_klein_bottle_identification():
    # (u + 2π, v) and (u, −v) are the same point: the tube comes back reflected
    u = torch.rand(50, dtype=torch.float64) * 2 * math.pi
    v = torch.rand(50, dtype=torch.float64) * 2 * math.pi
    torch.testing.assert_close(M._klein(u + 2 * math.pi, v, 2.0, 1.0), M._klein(u, -v, 2.0, 1.0))
    X, p = M.klein_bottle(300, seed=0)
    torch.testing.assert_close(X, M._klein(p[:, 0].double(), p[:, 1].double(), 2.0, 1.0).float(), atol=1e-5, rtol=0)


def test_klein_union_sphere_strata_meet_along_a_circle():
    X, p = M.klein_union_sphere(1000, sphere_fraction=0.3, seed=0)
    assert X.shape == (1000, 4) and (p[:, 0] == 1).sum() == 300
    s = X[p[:, 0] == 1]
    torch.testing.assert_close(s[:, :3].norm(dim=1), torch.full((300,), 3.0), atol=1e-5, rtol=0)
    assert (s[:, 3] == 0).all()
    k = X[p[:, 0] == 0]
    assert (k[:, :3].norm(dim=1) <= 3.0 + 1e-5).all()  # the sphere wraps the Klein bottle's projection
    # the circle v = 0 of the Klein bottle lies on the sphere
    u = torch.linspace(0, 2 * math.pi, 20, dtype=torch.float64)
    c = M._klein(u, torch.zeros(20, dtype=torch.float64), 2.0, 1.0)
    torch.testing.assert_close(c[:, :3].norm(dim=1), torch.full((20,), 3.0, dtype=torch.float64))


def test_seeds_and_noise():
    a, _ = M.torus(100, seed=3)
    b, _ = M.torus(100, seed=3)
    c, _ = M.torus(100, seed=4)
    assert torch.equal(a, b) and not torch.equal(a, c)
    n, _ = M.circle(2000, noise=0.1, seed=0)
    assert (n.norm(dim=1) - 1).std().item() == pytest.approx(0.1, rel=0.1)
    with pytest.raises(ValueError, match="n must be"):
        M.circle(0)
    with pytest.raises(ValueError, match="ring torus"):
        M.torus(10, R=1.0, r=2.0)


def test_torus_ellipse_images():
    X, p = M.torus_ellipse_images(64, seed=0)
    assert X.shape == (64, 1, 16, 16) and p.shape == (64, 2)
    assert X.min() >= 0 and X.max() <= 1
    assert (p[:, 0] < math.pi).all() and (p[:, 1] < 2 * math.pi).all()
    # a half turn of the ellipse gives the same image; a full lap of the centre too
    a = M.render_ellipses(p[:, 0], p[:, 1])
    torch.testing.assert_close(a, X)
    torch.testing.assert_close(M.render_ellipses(p[:, 0] + math.pi, p[:, 1]), X, atol=1e-6, rtol=0)
    torch.testing.assert_close(M.render_ellipses(p[:, 0], p[:, 1] + 2 * math.pi), X, atol=1e-6, rtol=0)
    # the ellipse's area (π a b, in pixels) is its total brightness, up to the sub-pixel grid
    area = math.pi * 5.5 * 2.0
    assert X.sum((1, 2, 3)).mean().item() == pytest.approx(area, rel=0.03)
    # a quarter turn changes the image
    assert (M.render_ellipses(p[:1, 0] + math.pi / 2, p[:1, 1]) - X[:1]).abs().sum() > 5


def test_torus_images_have_two_loops_and_a_void():
    X, _ = M.torus_ellipse_images(1200, seed=1)
    d = T.diagrams(X.reshape(1200, -1), maxdim=2, n_sub=200)
    p1 = T.persistence(T.top_k(d[1], 3))
    p2 = T.persistence(T.top_k(d[2], 2))
    assert p1[1] > 1.8 * p1[2] and p2[0] > 4 * p2[1]
