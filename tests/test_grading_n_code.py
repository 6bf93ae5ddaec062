"""The checkers of the set "Neurally controlled ODEs": plausible mistakes lose points, right answers written
differently do not."""

import numpy as np
import torch
from sklearn.isotonic import IsotonicRegression
from sklearn.mixture import GaussianMixture

from dyngeo.grading.n_code import (check_autoncode_latent, check_increasing_fit_mse, check_open_loop_rhs,
                                   check_per_sample_mlp, check_sample_latent)
from dyngeo.models import MLPField
from dyngeo.models.ncode import AugmentedField, ParamTemplate, fit_latent_gmm, latent_state, sparse_theta

from checking import AlwaysEqual, accepts, rejects

# ---------------------------------------------------------------------------------- per_sample_mlp


def mlp(x, theta, hidden, transpose=False, shared=False, biases_first=False, act=torch.tanh):
    B, d = x.shape
    if shared:
        theta = theta[:1].expand(B, -1)
    if biases_first:
        b1, b2, W1, W2 = torch.split(theta, [hidden, d, hidden * d, d * hidden], dim=1)
    else:
        W1, b1, W2, b2 = torch.split(theta, [hidden * d, hidden, d * hidden, d], dim=1)
    W1 = W1.reshape(B, d, hidden).transpose(1, 2) if transpose else W1.reshape(B, hidden, d)
    W2 = W2.reshape(B, hidden, d).transpose(1, 2) if transpose else W2.reshape(B, d, hidden)
    h = act(torch.einsum("bhd,bd->bh", W1, x) + b1)
    return torch.einsum("bdh,bh->bd", W2, h) + b2


def mlp_bmm(x, theta, hidden):  # the same field with bmm and index arithmetic
    B, d = x.shape
    i = 0
    pieces = []
    for size in (hidden * d, hidden, d * hidden, d):
        pieces.append(theta[:, i: i + size])
        i += size
    W1, b1, W2, b2 = pieces
    h = torch.tanh(torch.bmm(W1.view(B, hidden, d), x.unsqueeze(2)).squeeze(2) + b1)
    return torch.bmm(W2.view(B, d, hidden), h.unsqueeze(2)).squeeze(2) + b2


def mlp_vmap(x, theta, hidden):  # one sample's field, vectorised over the batch by torch.func.vmap
    d = x.shape[1]

    def one(xb, tb):
        W1, b1, W2, b2 = torch.split(tb, [hidden * d, hidden, d * hidden, d])
        return W2.view(d, hidden) @ torch.tanh(W1.view(hidden, d) @ xb + b1) + b2

    return torch.func.vmap(one)(x, theta)


def test_per_sample_mlp_right_answers_pass():
    accepts(check_per_sample_mlp, mlp)
    accepts(check_per_sample_mlp, mlp_bmm)
    accepts(check_per_sample_mlp, mlp_vmap)


def test_per_sample_mlp_rejects_a_loop_over_samples():
    def loop(x, theta, hidden):  # right values, but the exercise forbids the loop
        return torch.stack([mlp(x[b: b + 1], theta[b: b + 1], hidden)[0] for b in range(len(x))])

    def loop_numpy(x, theta, hidden):
        out = np.zeros(tuple(x.shape))
        for b in range(len(x)):
            out[b] = mlp(x[b: b + 1], theta[b: b + 1], hidden)[0].numpy()
        return torch.from_numpy(out)

    def builtin_map(x, theta, hidden):  # a loop hidden in map over torch built-ins
        B, d = x.shape
        W1, b1, W2, b2 = torch.split(theta, [hidden * d, hidden, d * hidden, d], dim=1)
        h = torch.tanh(torch.stack(list(map(torch.mv, W1.reshape(B, hidden, d), x))) + b1)
        return torch.stack(list(map(torch.mv, W2.reshape(B, d, hidden), h))) + b2

    rejects(check_per_sample_mlp, loop, "loops over the samples")
    rejects(check_per_sample_mlp, loop_numpy, "loops over the samples")
    rejects(check_per_sample_mlp, builtin_map, "loops over the samples")


def test_per_sample_mlp_rejects_layout_mistakes():
    rejects(check_per_sample_mlp, lambda x, th, h: mlp(x, th, h, transpose=True), "transposed")
    rejects(check_per_sample_mlp, lambda x, th, h: mlp(x, th, h, shared=True), "first sample")
    rejects(check_per_sample_mlp, lambda x, th, h: mlp(x, th, h, biases_first=True), "order")
    rejects(check_per_sample_mlp, lambda x, th, h: mlp(x, th, h, act=torch.relu), "ReLU")


def test_per_sample_mlp_rejects_the_library_nan_and_float32():
    def library(x, theta, hidden):
        template = ParamTemplate(MLPField(x.shape[1], hidden, depth=1), rescale=False).double()
        return template(torch.tensor(0.0), x, theta)

    rejects(check_per_sample_mlp, library, "switched off")
    rejects(check_per_sample_mlp, lambda x, th, h: torch.full_like(x, float("nan")), "NaN")
    rejects(check_per_sample_mlp, lambda x, th, h: mlp(x.float(), th.float(), h), "float32")


# ----------------------------------------------------------------------------------- open_loop_rhs


def rhs(t, z, field, d):
    x, theta = z[:, :d], z[:, d:]
    return torch.cat([field(t, x, theta), torch.zeros_like(theta)], dim=1)


def rhs_split(t, z, field, d):  # torch.split, and a zero block built with new_zeros
    x, theta = torch.split(z, [d, z.shape[1] - d], dim=1)
    out = z.new_zeros(z.shape)
    return torch.cat([field(t, x, theta), out[:, d:]], dim=1)


def test_open_loop_rhs_right_answers_pass():
    accepts(check_open_loop_rhs, rhs)
    accepts(check_open_loop_rhs, rhs_split)


def test_open_loop_rhs_rejects_a_detached_theta():
    def detached(t, z, field, d):
        x, theta = z[:, :d], z[:, d:].detach()
        return torch.cat([field(t, x, theta), torch.zeros_like(theta)], dim=1)

    rejects(check_open_loop_rhs, detached, "no gradient reaches θ", "detach")


def test_open_loop_rhs_rejects_a_result_without_graph():
    def rebuilt(t, z, field, d):
        return torch.tensor(rhs(t, z, field, d).tolist(), dtype=z.dtype)

    rejects(check_open_loop_rhs, rebuilt, "no gradient flows")


def test_open_loop_rhs_rejects_dropping_theta():
    rejects(check_open_loop_rhs, lambda t, z, field, d: field(t, z[:, :d], z[:, d:]), "shape", "θ")


def test_open_loop_rhs_rejects_moving_controls():
    def drifting(t, z, field, d):
        out = rhs(t, z, field, d)
        return torch.cat([out[:, :d], z[:, d:]], 1)

    rejects(check_open_loop_rhs, drifting, "not zero")


def test_open_loop_rhs_rejects_a_swapped_split():
    def theta_first(t, z, field, d):
        K = z.shape[1] - d
        return torch.cat([field(t, z[:, K:], z[:, :K]), torch.zeros_like(z[:, d:])], 1)

    rejects(check_open_loop_rhs, theta_first, "[x, θ]")


def test_open_loop_rhs_rejects_the_library():
    rejects(check_open_loop_rhs, lambda t, z, field, d: AugmentedField(field, (d,))(t, z), "switched off")


# ------------------------------------------------------------------------------ increasing_fit_mse


def pav(x, y):
    order = torch.argsort(x.ravel())
    blocks = []
    for v in y.ravel()[order].tolist():
        blocks.append([v, 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            (m2, c2), (m1, c1) = blocks.pop(), blocks.pop()
            blocks.append([(m1 * c1 + m2 * c2) / (c1 + c2), c1 + c2])
    fit = torch.tensor([m for m, c in blocks for _ in range(c)], dtype=y.dtype)
    return float(((fit - y.ravel()[order]) ** 2).mean())


def pav_numpy(x, y):  # numpy, sorting with np.argsort, a 0-d array as the result
    x, y = x.numpy().ravel(), y.numpy().ravel()
    ys = list(y[np.argsort(x)])
    means, counts = [], []
    for v in ys:
        means.append(v)
        counts.append(1)
        while len(means) > 1 and means[-2] > means[-1]:
            c = counts[-2] + counts[-1]
            m = (means[-2] * counts[-2] + means[-1] * counts[-1]) / c
            means[-2:], counts[-2:] = [m], [c]
    fit = np.repeat(means, counts)
    return np.mean((fit - np.array(ys)) ** 2)


def test_increasing_fit_right_answers_pass():
    accepts(check_increasing_fit_mse, pav)
    accepts(check_increasing_fit_mse, pav_numpy)
    accepts(check_increasing_fit_mse, lambda x, y: torch.tensor(pav(x, y)))


def test_increasing_fit_agrees_with_scikit_learn():
    def isotonic(x, y):  # computed outside the answer, so nothing is switched off
        x, y = x.ravel().numpy(), y.ravel().numpy()
        return float(np.mean((IsotonicRegression().fit_transform(x, y) - y) ** 2))

    g = torch.Generator().manual_seed(3)
    for _ in range(5):
        x, y = torch.rand(50, 1, generator=g, dtype=torch.float64), torch.randn(50, 1, generator=g, dtype=torch.float64)
        assert abs(isotonic(x, y) - pav(x, y)) < 1e-12


def test_increasing_fit_rejects_identity_map():
    rejects(check_increasing_fit_mse, lambda x, y: float(((x - y) ** 2).mean()), "identity")


def test_increasing_fit_rejects_best_line():
    def best_line(x, y):
        A = torch.cat([x, torch.ones_like(x)], 1)
        fit = A @ torch.linalg.lstsq(A, y).solution
        return float(((fit - y) ** 2).mean())

    rejects(check_increasing_fit_mse, best_line, "straight line")


def test_increasing_fit_rejects_unsorted_inputs():
    rejects(check_increasing_fit_mse, lambda x, y: pav(torch.arange(len(y), dtype=y.dtype)[:, None], y), "sort them by x")


def test_increasing_fit_rejects_a_sum_and_a_decreasing_fit():
    rejects(check_increasing_fit_mse, lambda x, y: pav(x, y) * len(y), "mean")
    rejects(check_increasing_fit_mse, lambda x, y: pav(x, -y), "non-increasing")


def test_increasing_fit_rejects_nan_and_scikit_learn():
    rejects(check_increasing_fit_mse, lambda x, y: float("nan"), "NaN")
    rejects(check_increasing_fit_mse, lambda x, y: torch.tensor(float("nan")), "NaN")

    def isotonic(x, y):
        x, y = x.ravel().numpy(), y.ravel().numpy()
        return float(np.mean((IsotonicRegression().fit_transform(x, y) - y) ** 2))

    rejects(check_increasing_fit_mse, isotonic, "switched off")


# -------------------------------------------------------------------------------- autoncode_latent


def latent(values, x0, T):
    B, n = values.shape[0], x0.shape[0]
    rows = torch.arange(n)
    theta = values.new_zeros(B, n, n)
    v = values.view(B, n, 2)
    theta[:, rows, rows] = v[:, :, 0]
    theta[:, rows, (rows + 1) % n] = v[:, :, 1]
    return torch.linalg.matrix_exp(T * theta) @ x0


def latent_scipy(values, x0, T):  # a loop over the batch with scipy's expm, returned as a NumPy array
    from scipy.linalg import expm

    v, n = values.numpy().reshape(len(values), -1, 2), len(x0)
    out = []
    for vb in v:
        theta = np.zeros((n, n))
        for i in range(n):
            theta[i, i], theta[i, (i + 1) % n] = vb[i]
        out.append(expm(T * theta) @ x0.numpy())
    return np.array(out)


def test_autoncode_latent_right_answers_pass():
    accepts(check_autoncode_latent, latent)
    accepts(check_autoncode_latent, latent_scipy)


def test_autoncode_latent_rejects_missing_time():
    rejects(check_autoncode_latent, lambda v, x0, T: latent(v, x0, 1.0), "time T")


def test_autoncode_latent_rejects_left_multiplication():
    rejects(check_autoncode_latent, lambda v, x0, T: x0 @ torch.linalg.matrix_exp(T * latent_theta(v, len(x0))), "transposed")


def latent_theta(values, n, offsets=(0, 1)):
    B = len(values)
    theta = values.new_zeros(B, n, n)
    v = values.view(B, n, 2)
    for i in range(n):
        for j, o in enumerate(offsets):
            theta[:, i, (i + o) % n] = v[:, i, j]
    return theta


def test_autoncode_latent_rejects_elementwise_exp():
    rejects(check_autoncode_latent, lambda v, x0, T: torch.exp(T * latent_theta(v, len(x0))) @ x0, "element-wise")


def test_autoncode_latent_rejects_wrong_pattern_and_layout():
    rejects(check_autoncode_latent,
            lambda v, x0, T: torch.linalg.matrix_exp(T * latent_theta(v, len(x0), (0, -1))) @ x0, "(i + 1) mod n")

    def columns(v, x0, T):
        n = len(x0)
        return latent(v.view(len(v), 2, n).transpose(1, 2).reshape(len(v), -1), x0, T)

    rejects(check_autoncode_latent, columns, "[B, n, 2]")


def test_autoncode_latent_rejects_the_library():
    rejects(check_autoncode_latent, lambda v, x0, T: latent_state(sparse_theta(v, len(x0)), x0, T), "switched off")


# ----------------------------------------------------------------------------------- sample_latent


def sampler(codes, k, n, seed, standardise=True, back=True, one=False, ddof=1):
    codes = codes.numpy()
    mean, std = (codes.mean(0), codes.std(0, ddof=ddof)) if standardise else (0.0, 1.0)
    gmm = GaussianMixture(1 if one else k, tol=1e-3, max_iter=100, init_params="kmeans", random_state=seed)
    gmm.fit((codes - mean) / std)
    draw = gmm.sample(n)[0]
    return torch.as_tensor(draw * std + mean if back else draw)


def sampler_torch(codes, k, n, seed):  # torch statistics, a permuted draw, float32 output
    mean, std = codes.mean(0), codes.std(0)
    gmm = GaussianMixture(k, random_state=seed).fit(((codes - mean) / std).numpy())
    draw = torch.as_tensor(gmm.sample(n)[0])[torch.randperm(n, generator=torch.Generator().manual_seed(seed))]
    return (draw * std + mean).float()


def test_sample_latent_right_answers_pass():
    accepts(check_sample_latent, sampler)
    accepts(check_sample_latent, lambda c, k, n, s: sampler(c, k, n, s, ddof=0))
    accepts(check_sample_latent, sampler_torch)


def test_sample_latent_rejects_no_standardisation():
    rejects(check_sample_latent, lambda c, k, n, s: sampler(c, k, n, s, standardise=False), "standardise")


def test_sample_latent_rejects_forgetting_to_map_back():
    rejects(check_sample_latent, lambda c, k, n, s: sampler(c, k, n, s, back=False), "map the samples back")


def test_sample_latent_rejects_a_single_gaussian():
    rejects(check_sample_latent, lambda c, k, n, s: sampler(c, k, n, s, one=True), "unlikely", "not one Gaussian")


def test_sample_latent_rejects_copies_means_and_an_ignored_seed():
    rejects(check_sample_latent, lambda c, k, n, s: c[torch.randint(len(c), (n,))], "copies")

    def means(c, k, n, s):
        mean, std = c.mean(0), c.std(0)
        gmm = GaussianMixture(k, random_state=s).fit(((c - mean) / std).numpy())
        return torch.as_tensor(gmm.means_[gmm.predict(gmm.sample(n)[0])]) * std + mean

    rejects(check_sample_latent, means, "crowd")
    rejects(check_sample_latent, lambda c, k, n, s: sampler(c, k, n, None), "random_state=seed")


def test_sample_latent_rejects_the_library_and_nan():
    def library(c, k, n, s):
        mean, std = c.mean(0), c.std(0)
        return torch.as_tensor(fit_latent_gmm((c - mean) / std, k, s).sample(n)[0]) * std + mean

    rejects(check_sample_latent, library, "switched off")
    rejects(check_sample_latent, lambda c, k, n, s: torch.full((n, c.shape[1]), float("nan")), "NaN")


# -------------------------------------------------------------------------------------- lying objects


def test_objects_that_claim_equality_do_not_pass():
    rejects(check_autoncode_latent, lambda v, x0, T: torch.zeros(len(v), len(x0), dtype=v.dtype).as_subclass(AlwaysEqual),
            "off by")

    class Liar:
        def __eq__(self, other):
            return True

    rejects(check_increasing_fit_mse, lambda x, y: Liar(), "should be a number")


def test_the_checkers_reference_helpers_are_switched_off():
    from dyngeo.grading import n_code

    assert "_isotonic_mse" not in n_code.__all__ and "_pav" not in n_code.__all__
    rejects(check_increasing_fit_mse, lambda x, y: n_code._isotonic_mse(x.numpy().ravel(), y.numpy().ravel()),
            "switched off")
    rejects(check_per_sample_mlp, n_code._mlp, "switched off")
