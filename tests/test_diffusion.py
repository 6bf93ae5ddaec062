"""Diffusion maps, CIDM, Nyström and on-manifold PGD against independent references: the closed-form
Laplace–Beltrami spectra of the circle and the sphere, scikit-learn's SpectralEmbedding on the same
graph, finite differences, and the geometry of a circle."""

import numpy as np
import pytest
import torch

from dyngeo.data.manifold_digits import rotated_digits
from dyngeo.geometry import diffusion as dg
from dyngeo.geometry import tangent as tg


def circle(n, seed=0, noise=0.0):
    rng = np.random.default_rng(seed)
    th = rng.uniform(0, 2 * np.pi, n)
    r = 1 + noise * rng.standard_normal(n)
    return np.c_[r * np.cos(th), r * np.sin(th)], th


def test_circle_spectrum_matches_laplace_beltrami():
    X, _ = circle(1000)
    lam, phi = dg.diffusion_map(X, 9)
    assert abs(lam[0]) < 1e-10 and np.all(np.diff(lam) >= 0)
    np.testing.assert_allclose(lam[1:], [1, 1, 4, 4, 9, 9, 16, 16], rtol=0.1)
    assert phi.shape == (1000, 9)


def test_sphere_spectrum_multiplicities():
    rng = np.random.default_rng(1)
    Z = rng.standard_normal((1500, 3))
    Z /= np.linalg.norm(Z, axis=1, keepdims=True)
    lam, _ = dg.diffusion_map(Z, 16)
    groups = [lam[1:4], lam[4:9], lam[9:16]]
    scale = lam[1:4].mean() / 2  # up to scale
    for g, true in zip(groups, (2, 6, 12)):
        np.testing.assert_allclose(g / scale, true, rtol=0.12)
    # the gaps separate the multiplicities 3, 5, 7
    assert lam[4] - lam[3] > 5 * (lam[3] - lam[1]) and lam[9] - lam[8] > 2 * (lam[8] - lam[4]) / 4


def test_alpha_one_removes_the_sampling_density():
    rng = np.random.default_rng(2)
    th = np.mod(rng.normal(0, 2.0, 1200), 2 * np.pi)  # non-uniform on the circle
    X = np.c_[np.cos(th), np.sin(th)]
    err = {a: np.max(np.abs(dg.diffusion_map(X, 5, eps=0.25, alpha=a)[0][1:] / [1, 1, 4, 4] - 1)) for a in (0.0, 1.0)}
    assert err[1.0] < 0.05 and err[0.0] > 2 * err[1.0]  # the density biases α = 0


def test_eigenvectors_match_sklearn_spectral_embedding():
    from sklearn.manifold import SpectralEmbedding

    rng = np.random.default_rng(3)
    X = rng.uniform(size=(300, 2)) * [3.0, 1.0]  # a rectangle: distinct eigenvalues
    dm = dg.DiffusionMap(4, eps=0.3, alpha=0.0, method="dm").fit(X)
    K = np.exp(-((X[:, None] - X[None]) ** 2).sum(-1) / 0.3**2)
    emb = SpectralEmbedding(n_components=3, affinity="precomputed", random_state=0).fit(K).embedding_
    for j in range(3):
        a, b = dm.phi[:, j + 1], emb[:, j]
        assert abs(a @ b) / (np.linalg.norm(a) * np.linalg.norm(b)) > 0.999


def test_nystrom_reproduces_training_values_and_functions():
    X, th = circle(400, noise=0.02)
    for method in ("dm", "cidm"):
        dm = dg.DiffusionMap(30, method=method).fit(X)
        ext = dm.extend(torch.tensor(X)).numpy()
        np.testing.assert_allclose(ext, dm.phi, atol=1e-9)
        assert np.allclose(dm.phi.T @ (dm.degrees[:, None] * dm.phi), np.eye(30), atol=1e-9)
    # a smooth function, extended with 30 eigenfunctions, is recovered between the samples
    f = np.cos(2 * th)
    new = np.linspace(0, 2 * np.pi, 50)
    got = dm.extend_function(f, torch.tensor(np.c_[np.cos(new), np.sin(new)])).numpy()[:, 0]
    assert np.max(np.abs(got - np.cos(2 * new))) < 0.1


def test_nystrom_projection_lands_on_the_circle():
    X, _ = circle(800, noise=0.03)
    dm = dg.DiffusionMap(20, k=10, method="cidm").fit(X)
    rng = np.random.default_rng(4)
    ang = rng.uniform(0, 2 * np.pi, 50)
    Y = np.c_[np.cos(ang), np.sin(ang)] * rng.uniform(0.6, 1.6, (50, 1))
    P = dm.project(torch.tensor(Y), n_iter=3).numpy()
    assert np.max(np.abs(np.linalg.norm(P, axis=1) - 1)) < 0.05
    dang = np.angle(np.exp(1j * (np.arctan2(P[:, 1], P[:, 0]) - ang)))
    assert np.max(np.abs(dang)) < 0.2
    P2 = dm.project(torch.tensor(P)).numpy()
    assert np.max(np.linalg.norm(P2 - P, axis=1)) < 0.02


def test_jacobian_matches_finite_differences_and_gives_the_tangent():
    X, _ = circle(500, noise=0.01)
    dm = dg.DiffusionMap(20, k=10, method="cidm").fit(X)
    x = np.array([np.cos(0.7), np.sin(0.7)]) * 1.02
    J = dm.jacobian(torch.tensor(x)).numpy()
    h = 1e-6
    fd = np.stack([(dm.project(torch.tensor(x + h * e)) - dm.project(torch.tensor(x - h * e))).numpy()[0] / (2 * h)
                   for e in np.eye(2)], axis=1)
    np.testing.assert_allclose(J, fd, rtol=1e-5, atol=1e-7)
    Q = dm.tangent(torch.tensor(x), 1).numpy()[:, 0]
    assert abs(Q @ [-np.sin(0.7), np.cos(0.7)]) > 0.99


def test_local_pca_tangent_and_dimension():
    X, _ = circle(2000)
    Q = tg.local_pca_tangent(X, [1.0, 0.0], 15, 1)[:, 0]
    assert abs(Q[1]) > 0.99
    P = tg.projector(torch.tensor(Q[:, None]))
    assert torch.allclose(P @ P, P)
    assert tg.intrinsic_dimension(X, k=15) == 1
    rng = np.random.default_rng(5)
    Z = rng.standard_normal((3000, 3))
    Z /= np.linalg.norm(Z, axis=1, keepdims=True)
    assert tg.intrinsic_dimension(Z, k=20, threshold=0.9) == 2


def test_on_manifold_pgd_stays_on_the_circle_and_flips_a_linear_classifier():
    X, _ = circle(600, noise=0.01)
    dm = dg.DiffusionMap(20, k=10, eps=2.0, method="cidm").fit(X)  # a wide kernel: a smooth projection
    model = torch.nn.Linear(2, 2).double()
    with torch.no_grad():  # class 1 iff x > 0.3
        model.weight.copy_(torch.tensor([[-5.0, 0.0], [5.0, 0.0]]))
        model.bias.copy_(torch.tensor([1.5, -1.5]))
    a = torch.tensor([1.0, -1.0, 0.5])
    x0 = dm.project(torch.stack([a.cos(), a.sin()], 1).double(), n_iter=2)
    y0 = model(x0).argmax(1)
    assert (y0 == 1).all()
    Q = torch.stack([dm.tangent(x, 1) for x in x0])
    adv, flipped, steps, path = dg.on_manifold_pgd(model, dm, x0, y0, 0.1, Q, steps=100, clamp=None)
    assert flipped.all()
    assert (adv.norm(dim=1) - 1).abs().max() < 0.05
    # the first step, after the projection back, still runs along the tangent at the start (up to curvature)
    moved = path[1] - path[0]
    assert (moved - torch.einsum("bdk,bk->bd", Q, torch.einsum("bdk,bd->bk", Q, moved))).norm(dim=1).max() < 0.02


def test_errors_are_clear():
    with pytest.raises(ValueError, match="method"):
        dg.DiffusionMap(method="pca")
    with pytest.raises(ValueError, match="NaN"):
        dg.DiffusionMap().fit(np.array([[0.0, np.nan], [1.0, 0.0]]))
    with pytest.raises(ValueError, match="n_components"):
        dg.DiffusionMap(5).fit(np.zeros((3, 2)) + np.arange(3)[:, None])


def test_rotated_digits_parameters():
    X, y, p = rotated_digits(classes=[1, 7], n_theta=5, n_scale=3)
    assert X.shape == (30, 256) and y.tolist().count(7) == 15
    assert X.dtype == torch.float32 and X.min() >= 0 and X.max() <= 1
    same = (y == 1) & (p[:, 0] == 0) & (p[:, 1] == 1)
    assert same.sum() == 1


def test_checkpointed_attacks_recompute():
    """The chapter's stored attack sweep: rerun seed 0's attacks on three starts from the stored weights."""
    from dyngeo.checkpoints import load
    from dyngeo.checkpoints import make_on_manifold as om

    ck = load("on_manifold")
    X, y, params, _ = om.dataset()
    cidm, _ = om.class_manifold(X, y, params)
    net = om.classifier()
    net.load_state_dict(ck["nets"][0])
    x0, th0, s0 = om.starts(0)
    x0 = x0[:3]
    run = ck["runs"][0]
    np.testing.assert_allclose(th0, run["theta0"].numpy())
    np.testing.assert_allclose(s0, run["scale0"].numpy())
    adv_on, flip_on, _, adv_off, flip_off, radius = om.attack(net.eval(), cidm, x0, torch.full((3,), om.DIGIT), seed=0)
    assert torch.equal(flip_on, run["flip_on"][:3]) and torch.equal(flip_off, run["flip_off"][:3])
    assert (adv_on - run["adv_on"][:3]).abs().max() < 1e-4
    assert torch.allclose(radius, run["radius_off"][:3], equal_nan=True)
