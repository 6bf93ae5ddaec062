"""Each checker of Chapter 4 accepts the reference answer and rejects plausible wrong ones."""

import numpy as np
import torch
from sklearn.mixture import GaussianMixture

from dyngeo.grading import run_check
from dyngeo.grading.ch04 import (
    check_autoncode_latent, check_increasing_fit_mse, check_open_loop_rhs, check_per_sample_mlp, check_sample_latent,
)
from dyngeo.models import MLPField
from dyngeo.models.ncode import ParamTemplate, latent_state, sparse_theta

from checking import rejects


# ---------------------------------------------------------------------------------- per_sample_mlp


def mlp(x, theta, hidden, transpose=False, shared=False, biases_first=False):
    B, d = x.shape
    if shared:
        theta = theta[:1].expand(B, -1)
    if biases_first:
        b1, b2, W1, W2 = torch.split(theta, [hidden, d, hidden * d, d * hidden], dim=1)
    else:
        W1, b1, W2, b2 = torch.split(theta, [hidden * d, hidden, d * hidden, d], dim=1)
    W1 = W1.reshape(B, d, hidden).transpose(1, 2) if transpose else W1.reshape(B, hidden, d)
    W2 = W2.reshape(B, hidden, d).transpose(1, 2) if transpose else W2.reshape(B, d, hidden)
    h = torch.tanh(torch.einsum("bhd,bd->bh", W1, x) + b1)
    return torch.einsum("bdh,bh->bd", W2, h) + b2


def test_per_sample_mlp_reference_passes():
    assert run_check(check_per_sample_mlp, mlp) == (True, "passed")
    library = lambda x, theta, hidden: ParamTemplate(MLPField(x.shape[1], hidden, depth=1), rescale=False)(  # noqa: E731
        torch.tensor(0.0), x, theta)
    assert run_check(check_per_sample_mlp, library) == (True, "passed")


def test_per_sample_mlp_rejects_transposed_weights():
    rejects(check_per_sample_mlp, lambda x, th, h: mlp(x, th, h, transpose=True), "off by")


def test_per_sample_mlp_rejects_shared_weights():
    rejects(check_per_sample_mlp, lambda x, th, h: mlp(x, th, h, shared=True), "first sample")


def test_per_sample_mlp_rejects_wrong_order():
    rejects(check_per_sample_mlp, lambda x, th, h: mlp(x, th, h, biases_first=True), "off by")


# ----------------------------------------------------------------------------------- open_loop_rhs


def rhs(t, z, field, d):
    x, theta = z[:, :d], z[:, d:]
    return torch.cat([field(t, x, theta), torch.zeros_like(theta)], dim=1)


def test_open_loop_rhs_reference_passes():
    assert run_check(check_open_loop_rhs, rhs) == (True, "passed")


def test_open_loop_rhs_rejects_dropping_theta():
    rejects(check_open_loop_rhs, lambda t, z, field, d: field(t, z[:, :d], z[:, d:]), "shape", "θ")


def test_open_loop_rhs_rejects_moving_controls():
    def drifting(t, z, field, d):
        out = rhs(t, z, field, d)
        return torch.cat([out[:, :d], z[:, d:]], 1)

    rejects(check_open_loop_rhs, drifting, "zero")


def test_open_loop_rhs_rejects_wrong_split():
    rejects(check_open_loop_rhs, lambda t, z, field, d: rhs(t, z.roll(1, dims=1), field, d), "off by")


# ------------------------------------------------------------------------------ increasing_fit_mse


def isotonic(x, y):
    from sklearn.isotonic import IsotonicRegression

    x, y = x.ravel().numpy(), y.ravel().numpy()
    return float(np.mean((IsotonicRegression().fit_transform(x, y) - y) ** 2))


def test_increasing_fit_reference_passes():
    assert run_check(check_increasing_fit_mse, isotonic) == (True, "passed")


def test_increasing_fit_rejects_identity_map():
    rejects(check_increasing_fit_mse, lambda x, y: float(((x - y) ** 2).mean()), "identity")


def test_increasing_fit_rejects_best_line():
    def best_line(x, y):
        A = torch.cat([x, torch.ones_like(x)], 1)
        fit = A @ torch.linalg.lstsq(A, y).solution
        return float(((fit - y) ** 2).mean())

    rejects(check_increasing_fit_mse, best_line, "best non-decreasing fit")


def test_increasing_fit_rejects_unsorted_inputs():
    def no_sort(x, y):  # pool-adjacent-violators in the given order, forgetting to sort by x
        return isotonic(torch.arange(len(y), dtype=y.dtype)[:, None], y)

    rejects(check_increasing_fit_mse, no_sort, "shuffled")


# -------------------------------------------------------------------------------- autoncode_latent


def test_autoncode_latent_reference_passes():
    assert run_check(check_autoncode_latent, lambda v, x0, T: latent_state(sparse_theta(v, x0.shape[0]), x0, T)) == (
        True, "passed")


def test_autoncode_latent_rejects_missing_time():
    rejects(check_autoncode_latent, lambda v, x0, T: latent_state(sparse_theta(v, x0.shape[0]), x0, 1.0), "time T")


def test_autoncode_latent_rejects_left_multiplication():
    rejects(check_autoncode_latent,
            lambda v, x0, T: latent_state(sparse_theta(v, x0.shape[0]).transpose(1, 2), x0, T), "from the left")


def test_autoncode_latent_rejects_elementwise_exp():
    rejects(check_autoncode_latent,
            lambda v, x0, T: (torch.exp(T * sparse_theta(v, x0.shape[0])) @ x0[:, None])[..., 0], "element-wise")


def test_autoncode_latent_rejects_wrong_pattern():
    rejects(check_autoncode_latent,
            lambda v, x0, T: latent_state(sparse_theta(v, x0.shape[0], offsets=(0, -1)), x0, T), "sparsity pattern")


# ----------------------------------------------------------------------------------- sample_latent


def sampler(codes, k, n, seed, standardise=True, back=True, one=False):
    mean, std = (codes.mean(0), codes.std(0)) if standardise else (0.0, 1.0)
    gmm = GaussianMixture(1 if one else k, random_state=seed).fit(((codes - mean) / std).numpy())
    draw = torch.as_tensor(gmm.sample(n)[0], dtype=codes.dtype)
    return draw * std + mean if back else draw


def test_sample_latent_reference_passes():
    assert run_check(check_sample_latent, sampler) == (True, "passed")


def test_sample_latent_rejects_forgetting_to_map_back():
    rejects(check_sample_latent, lambda c, k, n, s: sampler(c, k, n, s, back=False), "map them back")


def test_sample_latent_rejects_a_single_gaussian():
    rejects(check_sample_latent, lambda c, k, n, s: sampler(c, k, n, s, one=True), "n_components")


def test_sample_latent_rejects_copying_codes():
    rejects(check_sample_latent, lambda c, k, n, s: c[:n].clone(), "copies")
