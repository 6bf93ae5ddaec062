"""DAE-G / DAE-OG: the orthogonality loss's closed forms and gradient, the network's shapes, one code path for
both models, and the shipped study against a rerun of its first steps."""

import math

import pytest
import torch

from dyngeo.models.dae_og import (DAEOG, chunk_gram, dae_losses, normalise_chunks, orthogonality_loss, split_chunks,
                                  train_dae)

torch.set_num_threads(1)


def test_orthogonality_loss_closed_forms():
    k, d = 3, 4
    Q, _ = torch.linalg.qr(torch.randn(d, d, dtype=torch.float64, generator=torch.Generator().manual_seed(0)))
    z = torch.cat([2.0 * Q[:, 0], 0.5 * Q[:, 1], 3.0 * Q[:, 2]])[None].repeat(5, 1)
    assert float(orthogonality_loss(z, k)) == pytest.approx(0.0, abs=1e-12)
    same = torch.randn(5, d, dtype=torch.float64).repeat(1, k)
    assert float(orthogonality_loss(same, k)) == pytest.approx(math.sqrt(k * (k - 1)), rel=1e-12)
    z = torch.randn(6, k * d, dtype=torch.float64)
    scaled = (split_chunks(z, k) * torch.tensor([0.3, 5.0, 2.0], dtype=torch.float64)[None, :, None]).reshape(6, -1)
    assert float(orthogonality_loss(scaled, k)) == pytest.approx(float(orthogonality_loss(z, k)), rel=1e-12)
    # by hand for one image: ‖G − I‖_F² = Σ_{i≠j} cos²(z^i, z^j)
    c = normalise_chunks(z[:1], k)[0]
    cos2 = sum(float(c[i] @ c[j]) ** 2 for i in range(k) for j in range(k) if i != j)
    assert float(orthogonality_loss(z[:1], k)) == pytest.approx(math.sqrt(cos2), rel=1e-12)
    assert torch.allclose(chunk_gram(z, k).diagonal(dim1=1, dim2=2), torch.ones(6, k, dtype=torch.float64))


def test_orthogonality_loss_gradient():
    z = torch.randn(3, 12, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda z: orthogonality_loss(z, 3), (z,))
    # the gradient is orthogonal to each chunk (the loss only sees directions)
    (g,) = torch.autograd.grad(orthogonality_loss(z, 3), z)
    assert torch.allclose((split_chunks(g, 3) * split_chunks(z, 3)).sum(2), torch.zeros(3, 3, dtype=torch.float64),
                          atol=1e-12)


def test_chunks_errors():
    with pytest.raises(ValueError, match="equal chunks"):
        split_chunks(torch.zeros(2, 10), 3)
    with pytest.raises(ValueError, match="equal chunks"):
        DAEOG((3, 16, 16), 10, [2, 2, 2])


@pytest.mark.parametrize("conv", [False, True])
def test_network_shapes(conv):
    torch.manual_seed(0)
    m = DAEOG((3, 16, 16), 12, [2, 5, 3], conv=conv, width=32, attr_hidden=(16, 8))
    x = torch.rand(4, 3, 16, 16)
    with torch.no_grad():
        xr, z = m(x)
    assert xr.shape == x.shape and z.shape == (4, 12)
    assert [a.shape[1] for a in m.attribute_codes(z)] == [2, 5, 3]
    assert m.generate(7).shape == (7, 3, 16, 16)
    assert float(xr.min()) >= 0 and float(xr.max()) <= 1


@torch.no_grad()
def test_one_code_path_for_dae_g_and_dae_og():
    torch.manual_seed(0)
    m = DAEOG((3, 8, 8), 12, [2, 3], width=16, attr_hidden=(8,))
    x = torch.rand(6, 3, 8, 8)
    g = dae_losses(m, x, alpha_orth=0.0, alpha_stat=0.0)
    og = dae_losses(m, x, alpha_orth=0.5, alpha_stat=0.0)
    assert float(og["total"]) == pytest.approx(float(g["rec"] + 0.5 * og["orth"]), rel=1e-6)
    assert float(g["total"]) == pytest.approx(float(g["rec"]), rel=1e-7)
    # the reconstruction term is the per-image Euclidean norm, averaged
    xr, _ = m(x)
    assert float(g["rec"]) == pytest.approx(float((x - xr).flatten(1).norm(dim=1).mean()), rel=1e-6)
    with_stat = dae_losses(m, x, alpha_orth=0.0, alpha_stat=0.2, generator=torch.Generator().manual_seed(0))
    assert float(with_stat["total"]) == pytest.approx(float(with_stat["rec"] + 0.2 * with_stat["stat"]), rel=1e-6)


def test_training_lowers_the_loss_and_orthogonality_makes_chunks_orthogonal():
    X = torch.rand(64, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    out = {}
    for a1 in (0.0, 1.0):
        torch.manual_seed(0)
        m = DAEOG((3, 8, 8), 12, [2, 3], width=32, attr_hidden=(16,))
        h = train_dae(m, X, steps=120, batch=32, alpha_orth=a1, alpha_stat=0.0, lr=3e-3, seed=0)
        assert sum(h["rec"][-10:]) < sum(h["rec"][:10])
        out[a1] = h["orth"][-1]
    assert out[1.0] < 0.1 < out[0.0]


def test_checkpoint_reproduces_its_first_steps():
    from dyngeo.checkpoints import HERE, load
    from dyngeo.checkpoints.make_dae_og import run

    assert (HERE / "dae_og.pt").stat().st_size <= 1_000_000
    ck = load("dae_og")
    _, hist = run("three", True, 0, stop=21)
    stored = ck["three"]["runs"]["OG0"]["history"]
    for key in ("rec", "orth", "stat"):
        assert torch.allclose(torch.tensor(hist[key][::10], dtype=torch.float64), stored[key][:3].double(), rtol=1e-4,
                              atol=1e-5), (key, hist[key][::10], stored[key][:3])
