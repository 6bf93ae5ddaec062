"""LMD (Lift, Map, Detect) and its generated OOD sets against independent references: masks against a
NumPy construction, SSIM against scikit-image, ROC-AUC against SciPy's Mann–Whitney U, the median against
NumPy, the LPIPS-style distance against a loop written out, the PNG/zlib lengths against the libraries,
and inpainting / noise-and-denoise with the exact ε of Gaussian data (the kept pixels come back exactly,
the filled ones have the known conditional mean)."""

import io
import zlib

import numpy as np
import pytest
import torch
from scipy.stats import mannwhitneyu
from skimage.metrics import structural_similarity

from dyngeo.data import ood_sets
from dyngeo.models import lmd
from dyngeo.models.diffusion import Schedule


# ---------- masks ----------
@pytest.mark.parametrize("size,n", [(8, 4), (8, 2), (8, 8), (32, 8), (6, 3)])
def test_checkerboard_matches_numpy_and_partitions(size, n):
    k = size // n
    ref = np.kron((np.indices((n, n)).sum(0) % 2 == 0), np.ones((k, k), dtype=bool))
    m, f = lmd.checkerboard_mask(size, n), lmd.checkerboard_mask(size, n, flip=True)
    np.testing.assert_array_equal(m.numpy(), ref)
    assert bool((m ^ f).all()) and not bool((m & f).any())  # a partition of the pixels
    assert bool(m[0, 0])
    if n % 2 == 0:
        assert m.float().mean().item() == 0.5


def test_mask_kinds():
    alt = lmd.make_masks("alternating", 8, 5, n=4)
    assert alt.shape == (5, 1, 8, 8) and alt.dtype == torch.bool
    assert bool((alt[0] ^ alt[1]).all()) and torch.equal(alt[0], alt[2])
    fixed = lmd.make_masks("fixed", 8, 3, n=4)
    assert all(torch.equal(fixed[0], fixed[i]) for i in range(3))
    centre = lmd.make_masks("centre", 8, 2)
    assert (~centre[0, 0]).sum() == 16 and not bool(centre[0, 0, 2:6, 2:6].any())
    rnd = lmd.make_masks("random", 8, 6, n=4, generator=torch.Generator().manual_seed(0))
    patches = rnd[:, 0, ::2, ::2]
    assert torch.equal(rnd[:, 0], patches.repeat_interleave(2, 1).repeat_interleave(2, 2))  # patch-constant
    assert (patches.flatten(1).sum(1) == 8).all()  # half of the 16 patches
    assert len({tuple(p.flatten().tolist()) for p in patches}) > 1
    again = lmd.make_masks("random", 8, 6, n=4, generator=torch.Generator().manual_seed(0))
    assert torch.equal(rnd, again)


def test_mask_errors():
    with pytest.raises(ValueError, match="dividing"):
        lmd.checkerboard_mask(8, 3)
    with pytest.raises(ValueError, match="mask kind"):
        lmd.make_masks("stripes", 8, 2)
    with pytest.raises(ValueError, match="r must"):
        lmd.make_masks("alternating", 8, 0)


# ---------- distances ----------
def test_mse_broadcasts_like_numpy():
    rng = np.random.default_rng(0)
    x, y = rng.random((4, 1, 8, 8)), rng.random((3, 4, 1, 8, 8))
    out = lmd.mse(torch.tensor(x), torch.tensor(y))
    np.testing.assert_allclose(out.numpy(), ((x[None] - y) ** 2).mean(axis=(-3, -2, -1)))


@pytest.mark.parametrize("win,data_range,channels", [(3, 1.0, 1), (5, 2.0, 1), (3, 1.0, 3)])
def test_ssim_matches_scikit_image(win, data_range, channels):
    rng = np.random.default_rng(win)
    x = rng.random((4, channels, 8, 8)) * data_range
    y = np.clip(x + 0.2 * data_range * rng.standard_normal(x.shape), 0, data_range)
    ours = lmd.ssim_distance(torch.tensor(x), torch.tensor(y), win=win, data_range=data_range).numpy()
    ref = [1 - structural_similarity(a, b, win_size=win, data_range=data_range, channel_axis=0) for a, b in zip(x, y)]
    np.testing.assert_allclose(ours, ref, atol=1e-10)
    assert np.allclose(lmd.ssim_distance(torch.tensor(x), torch.tensor(x), win=win).numpy(), 0)


def test_feature_distance_matches_a_written_out_reference():
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(1, 4, 3, padding=1).double()
    lin = torch.nn.Linear(64, 5).double()
    features = lambda z: [torch.relu(conv(z)), lin(z.flatten(1))]
    x, y = torch.rand(3, 1, 8, 8, dtype=torch.float64), torch.rand(2, 3, 1, 8, 8, dtype=torch.float64)
    ours = lmd.feature_distance(features, x, y)
    ref = np.zeros((2, 3))
    with torch.no_grad():
        for i in range(2):
            for j in range(3):
                total = 0.0
                for a, b in zip(features(x[j : j + 1]), features(y[i, j : j + 1])):
                    a, b = a[0].numpy(), b[0].numpy()
                    if a.ndim == 1:
                        a, b = a[:, None, None], b[:, None, None]
                    a = a / (np.linalg.norm(a, axis=0, keepdims=True) + 1e-10)
                    b = b / (np.linalg.norm(b, axis=0, keepdims=True) + 1e-10)
                    total += ((a - b) ** 2).sum(0).mean()
                ref[i, j] = total
    np.testing.assert_allclose(ours.detach().numpy(), ref, rtol=1e-10)
    assert torch.allclose(lmd.feature_distance(features, x, x), torch.zeros(3, dtype=torch.float64))


# ---------- AUROC and the aggregate ----------
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_roc_auc_is_the_mann_whitney_statistic(seed):
    rng = np.random.default_rng(seed)
    s_in = rng.normal(0, 1, 40).round(1)  # rounding makes ties
    s_out = rng.normal(0.7, 1, 55).round(1)
    u = mannwhitneyu(s_out, s_in).statistic
    assert abs(lmd.roc_auc(s_in, s_out) - u / (40 * 55)) < 1e-12
    assert lmd.roc_auc([0, 1, 2], [5, 6]) == 1.0 and lmd.roc_auc([5, 6], [0, 1]) == 0.0
    assert lmd.roc_auc(np.ones(5), np.ones(7)) == 0.5
    with pytest.raises(ValueError, match="non-empty"):
        lmd.roc_auc([], [1.0])
    with pytest.raises(ValueError, match="finite"):
        lmd.roc_auc([np.nan], [1.0])


def test_lmd_score_median_and_mean_match_numpy_and_ignore_mask_order():
    rng = np.random.default_rng(3)
    x = torch.tensor(rng.random((6, 1, 8, 8)))
    for r in (1, 4, 5):
        recon = torch.tensor(rng.random((r, 6, 1, 8, 8)))
        d = ((recon.numpy() - x.numpy()[None]) ** 2).mean(axis=(2, 3, 4))
        np.testing.assert_allclose(lmd.lmd_score(x, recon).numpy(), np.median(d, axis=0))
        np.testing.assert_allclose(lmd.lmd_score(x, recon, aggregate="mean").numpy(), d.mean(0))
        perm = torch.randperm(r)
        torch.testing.assert_close(lmd.lmd_score(x, recon[perm]), lmd.lmd_score(x, recon))
    with pytest.raises(ValueError, match="recon must"):
        lmd.lmd_score(x, recon[0])
    with pytest.raises(ValueError, match="aggregate"):
        lmd.lmd_score(x, recon, aggregate="max")


# ---------- map: inpainting and noise-denoise with the exact ε of Gaussian data ----------
MU, S = 0.3, 0.5


class GaussianEps(torch.nn.Module):
    """The exact ε*(x_t, t) = √(1-ᾱ)(x_t - √ᾱ μ)/(ᾱ s² + 1 - ᾱ) of data N(μ, s² I)."""

    def __init__(self, schedule):
        super().__init__()
        self.abar = schedule.alpha_bar

    def forward(self, x, t):
        a = self.abar[t.long().cpu()].to(x).view(-1, *([1] * (x.dim() - 1)))
        return (1 - a).sqrt() * (x - a.sqrt() * MU) / (a * S**2 + 1 - a)


def test_reconstruct_keeps_the_known_region_and_fills_with_the_conditional_mean():
    sched = Schedule.linear(100, 1e-3, 0.1)
    eps = GaussianEps(sched)
    x = torch.full((2, 1, 8, 8), 1.5, dtype=torch.float64)  # far from μ
    masks = lmd.make_masks("alternating", 8, 2, n=4)
    g = torch.Generator().manual_seed(0)
    rec = torch.stack([lmd.reconstruct(eps, sched, x, masks, h=5, generator=g) for _ in range(100)])
    assert rec.shape == (100, 2, 2, 1, 8, 8) and rec.dtype == torch.float64
    known = masks.unsqueeze(1).expand(2, 2, 1, 8, 8)
    assert torch.equal(rec[:, known], x.unsqueeze(0).expand(2, 2, 1, 8, 8)[known].expand(100, -1))
    filled = rec[:, ~known]  # independent pixels: the conditional is the marginal N(μ, s²)
    assert abs(filled.mean().item() - MU) < 0.05
    assert abs(filled.std().item() - S) < 0.1


def test_noise_denoise_mean_is_the_posterior_mean():
    """With exact ε, E[output | x] = μ + ᾱ s² / (ᾱ s² + 1 - ᾱ) (x - μ): the reverse chain's mean is exact
    because the DDPM posterior mean is linear in x̂_0 (tower property)."""
    sched = Schedule.linear(100, 1e-3, 0.1)
    eps = GaussianEps(sched)
    x = torch.tensor([-1.0, 0.3, 2.0], dtype=torch.float64).view(3, 1, 1, 1).expand(3, 1, 8, 8).contiguous()
    g = torch.Generator().manual_seed(1)
    for t, h in ((10, 1), (60, 7)):
        out = lmd.noise_denoise(eps, sched, x, t, r=200, h=h, generator=g)
        a = float(sched.alpha_bar[t])
        expect = MU + a * S**2 / (a * S**2 + 1 - a) * (x[:, 0, 0, 0] - MU)
        np.testing.assert_allclose(out.mean(dim=(0, 2, 3, 4)).numpy(), expect.numpy(), atol=0.02)
    near, far = (lmd.mse(x, lmd.noise_denoise(eps, sched, x, t, r=50, generator=g)).mean().item() for t in (5, 90))
    assert near < far  # lifting further changes the image more


def test_map_errors():
    sched = Schedule.linear(20)
    eps = GaussianEps(sched)
    x = torch.zeros(2, 1, 8, 8)
    with pytest.raises(ValueError, match="masks must"):
        lmd.reconstruct(eps, sched, x, torch.ones(2, 1, 4, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="masks must"):
        lmd.reconstruct(eps, sched, x, torch.ones(2, 1, 8, 8))
    with pytest.raises(ValueError, match=r"\[B, C, H, W\]"):
        lmd.reconstruct(eps, sched, torch.zeros(64), lmd.make_masks("fixed", 8, 1))
    with pytest.raises(ValueError, match="t must"):
        lmd.noise_denoise(eps, sched, x, 20)


# ---------- input complexity ----------
def test_compression_lengths_match_the_libraries():
    from PIL import Image

    imgs = torch.stack([torch.zeros(1, 8, 8), torch.rand(1, 8, 8, generator=torch.Generator().manual_seed(0))])
    raw = (imgs[:, 0] * 255).round().to(torch.uint8).numpy()
    np.testing.assert_allclose(lmd.zlib_bits(imgs).numpy(), [8 * len(zlib.compress(r.tobytes(), 9)) / 64 for r in raw])
    bits = lmd.png_bits(imgs).numpy()
    buf = io.BytesIO()
    Image.fromarray(raw[1], mode="L").save(buf, format="PNG", compress_level=9)
    assert bits[1] == 8 * buf.tell() / 64 and bits[0] < bits[1]
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(buf.getvalue()))), raw[1])  # lossless
    with pytest.raises(ValueError, match="single-channel"):
        lmd.png_bits(torch.rand(1, 3, 8, 8))


# ---------- generated OOD sets ----------
def test_ood_sets_are_seeded_images_in_the_unit_range():
    digits = torch.rand(20, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    sets = ood_sets.ood_sets(digits, 10, seed=3)
    again = ood_sets.ood_sets(digits, 10, seed=3)
    other = ood_sets.ood_sets(digits, 10, seed=4)
    for name, imgs in sets.items():
        assert imgs.shape == (10, 1, 8, 8) and imgs.dtype == torch.float32, name
        assert imgs.min() >= 0 and imgs.max() <= 1, name
        assert torch.equal(imgs, again[name]), name
    assert not torch.equal(sets["sprites"], other["sprites"])
    assert torch.equal(ood_sets.inverted(sets["inverted"]), digits[:10])
    noise = sets["blurred noise"].flatten(1)
    assert torch.allclose(noise.min(1).values, torch.zeros(10)) and torch.allclose(noise.max(1).values, torch.ones(10))
    sprite = sets["sprites"][:, 0]
    assert ((sprite > 0).flatten(1).sum(1) >= 1).all()  # something is drawn
    assert all(len(torch.unique(s[s > 0])) == 1 for s in sprite)  # one flat brightness per sprite


def test_blur_makes_neighbours_correlated():
    noise = ood_sets.blurred_noise(200, sigma=1.0, seed=0)[:, 0]
    a, b = noise[:, :, :-1].flatten(), noise[:, :, 1:].flatten()
    assert np.corrcoef(a, b)[0, 1] > 0.5
    white = torch.rand(200, 8, 8, generator=torch.Generator().manual_seed(0))
    assert abs(np.corrcoef(white[:, :, :-1].flatten(), white[:, :, 1:].flatten())[0, 1]) < 0.1


def test_ood_set_errors():
    with pytest.raises(ValueError, match="n must"):
        ood_sets.sprites(0)
    with pytest.raises(ValueError, match="sigma"):
        ood_sets.blurred_noise(3, sigma=0)
    with pytest.raises(ValueError, match="pixels"):
        ood_sets.inverted(torch.full((2, 1, 8, 8), 2.0))
    with pytest.raises(ValueError, match="digit_images"):
        ood_sets.ood_sets(torch.rand(3, 1, 8, 8), 5)


# ---------- the shipped checkpoint ----------
def test_checkpoint_recomputes_its_numbers_and_matches_the_script():
    """The stored AE test MSE and CNN accuracy recompute from the stored weights; the script's architecture
    (a few training steps) has the checkpoint's keys and shapes; the DDPM's L_simple is lower on held-out
    in-distribution digits than on inverted ones."""
    torch.set_num_threads(1)
    from dyngeo.checkpoints import load
    from dyngeo.checkpoints import make_diffusion_ood as mk
    from dyngeo.models.diffusion import simple_loss

    ck = load("diffusion_ood")
    unet, ae, cnn, sched = mk.load_models(ck)
    Xtr, ytr, Xte, yte = mk.in_distribution()
    assert set(yte.tolist()) == set(ck["config"]["in_classes"])
    with torch.no_grad():
        assert abs(torch.nn.functional.mse_loss(ae(Xte), Xte).item() - ck["ae_test_mse"]) < 1e-6
        assert abs((cnn(Xte).argmax(1) == yte).float().mean().item() - ck["cnn_test_accuracy"]) < 1e-6
        g = torch.Generator().manual_seed(0)
        x_in = 2 * Xte - 1
        x_out = 2 * ood_sets.inverted(Xte) - 1
        loss_in = torch.stack([simple_loss(unet, x_in, sched, generator=g) for _ in range(4)]).mean()
        loss_out = torch.stack([simple_loss(unet, x_out, sched, generator=g) for _ in range(4)]).mean()
    assert loss_in < 0.5 * loss_out
    fresh, _ = mk.train_ddpm(Xtr[:32], steps=2, generator=torch.Generator().manual_seed(0))
    assert {k: v.shape for k, v in fresh.state_dict().items()} == {k: v.shape for k, v in ck["ddpm"].items()}
    assert mk.schedule(ck["config"]).T == sched.T
