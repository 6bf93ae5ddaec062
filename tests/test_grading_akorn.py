"""The checkers of the set "Kuramoto oscillatory neurons": plausible mistakes lose points, right answers written
differently do not."""

import math

import numpy as np
import torch

from dyngeo.grading.akorn import (check_critical_coupling, check_energy, check_fg_ari, check_kuramoto_step,
                                  check_order_parameter, check_project_tangent)
from dyngeo.metrics import fg_ari as library_fg_ari
from dyngeo.models import akorn as ak

from checking import AlwaysEqual, accepts, rejects


# ---------------------------------------------------------------------------------- project_tangent


def proj(y, x, n):
    yg, xg = y.unflatten(1, (-1, n)), x.unflatten(1, (-1, n))
    return (yg - (yg * xg).sum(2, keepdim=True) * xg).flatten(1, 2)


def proj_einsum(y, x, n):  # a view with the oscillator axis last, einsum for the inner products
    B, C = x.shape[:2]
    xg = x.reshape(B, C // n, n, -1)
    yg = y.reshape(B, C // n, n, -1)
    dots = torch.einsum("bknp,bknp->bkp", yg, xg)
    return (yg - dots[:, :, None] * xg).reshape(y.shape)


def test_project_tangent_right_answers_pass():
    accepts(check_project_tangent, proj)
    accepts(check_project_tangent, proj_einsum)


def test_project_tangent_rejects_wrong_grouping_sign_and_scope():
    def strided(y, x, n):  # groups channels k, k + C/n, ... instead of consecutive ones
        yg, xg = y.unflatten(1, (n, -1)), x.unflatten(1, (n, -1))
        return (yg - (yg * xg).sum(1, keepdim=True) * xg).flatten(1, 2)

    def plus_sign(y, x, n):
        yg, xg = y.unflatten(1, (-1, n)), x.unflatten(1, (-1, n))
        return (yg + (yg * xg).sum(2, keepdim=True) * xg).flatten(1, 2)

    def whole_sample(y, x, n):
        return y - (y * x).flatten(1).sum(1).view(-1, *[1] * (x.dim() - 1)) * x

    rejects(check_project_tangent, strided, "grouped the wrong way")
    rejects(check_project_tangent, plus_sign, "subtracts")
    rejects(check_project_tangent, whole_sample, "per oscillator")


def test_project_tangent_rejects_the_library_and_nan():
    rejects(check_project_tangent, ak.project_tangent, "switched off")
    rejects(check_project_tangent, lambda y, x, n: ak.kuramoto_rhs(x, y, lambda v: 0 * v, None, n), "switched off")
    rejects(check_project_tangent, lambda y, x, n: y * float("nan"), "NaN")


# ------------------------------------------------------------------------------------ kuramoto_step


def step(x, c, J, omega, gamma, n):
    dx = proj(c + J(x), x, n)
    if omega is not None:
        xg = x.unflatten(1, (-1, n)).movedim(2, -1)
        dx = dx + (xg @ omega.T).movedim(-1, 2).flatten(1, 2)
    z = (x + gamma * dx).unflatten(1, (-1, n))
    return (z / z.norm(dim=2, keepdim=True)).flatten(1, 2)


def step_einsum(x, c, J, omega, gamma, n):  # Ω x by einsum on the grouped view, normalisation by rsqrt
    xg = x.unflatten(1, (-1, n))
    y = (c + J(x)).unflatten(1, (-1, n))
    dx = y - (y * xg).sum(2, keepdim=True) * xg
    if omega is not None:
        dx = dx + torch.einsum("ij,bkj...->bki...", omega, xg)
    z = xg + gamma * dx
    return (z * (z * z).sum(2, keepdim=True).rsqrt()).flatten(1, 2)


def test_kuramoto_step_right_answers_pass():
    accepts(check_kuramoto_step, step)
    accepts(check_kuramoto_step, step_einsum)


def test_kuramoto_step_rejects_missing_or_global_normalisation():
    def no_norm(x, c, J, omega, gamma, n):
        dx = proj(c + J(x), x, n)
        if omega is not None:
            dx = dx + (x.unflatten(1, (-1, n)).movedim(2, -1) @ omega.T).movedim(-1, 2).flatten(1, 2)
        return x + gamma * dx

    def global_norm(x, c, J, omega, gamma, n):
        z = no_norm(x, c, J, omega, gamma, n)
        return z / z.flatten(1).norm(dim=1).view(-1, *[1] * (z.dim() - 1))

    rejects(check_kuramoto_step, no_norm, "unit norm", "not normalised")
    rejects(check_kuramoto_step, global_norm, "unit norm", "whole sample")


def test_kuramoto_step_rejects_missing_projection_and_transposed_omega():
    rejects(check_kuramoto_step, _no_proj, "projection")
    rejects(check_kuramoto_step, lambda x, c, J, omega, gamma, n: step(x, c, J, None if omega is None else omega.T,
                                                                         gamma, n), "wrong way")
    rejects(check_kuramoto_step, lambda x, c, J, omega, gamma, n: step(x, c, J, None, gamma, n), "Ω x is missing")


def _no_proj(x, c, J, omega, gamma, n):
    dx = c + J(x)
    if omega is not None:
        dx = dx + (x.unflatten(1, (-1, n)).movedim(2, -1) @ omega.T).movedim(-1, 2).flatten(1, 2)
    z = (x + gamma * dx).unflatten(1, (-1, n))
    return (z / z.norm(dim=2, keepdim=True)).flatten(1, 2)


def test_kuramoto_step_rejects_the_library():
    rejects(check_kuramoto_step, ak.kuramoto_step, "switched off")

    def with_normalize(x, c, J, omega, gamma, n):  # the library's Π
        dx = proj(c + J(x), x, n)
        return ak.normalize(x + gamma * dx, n)

    rejects(check_kuramoto_step, with_normalize, "switched off")


# -------------------------------------------------------------------------------------------- energy


def energy(x, c, J):
    return -0.5 * (x * J(x)).flatten(1).sum(1) - (x * c).flatten(1).sum(1)


def test_energy_right_answers_pass():
    accepts(check_energy, energy)
    accepts(check_energy, lambda x, c, J: torch.einsum("bi,bi->b", x.flatten(1), (-0.5 * J(x) - c).flatten(1)))
    accepts(check_energy, lambda x, c, J: -(x * (0.5 * J(x) + c)).sum(tuple(range(1, x.dim()))))


def test_energy_rejects_missing_half_wrong_sign_and_mean():
    rejects(check_energy, lambda x, c, J: -(x * J(x)).flatten(1).sum(1) - (x * c).flatten(1).sum(1), "1/2")
    rejects(check_energy, lambda x, c, J: -0.5 * (x * J(x)).flatten(1).sum(1) + (x * c).flatten(1).sum(1), "sign")
    rejects(check_energy, lambda x, c, J: -0.5 * (x * J(x)).flatten(1).mean(1) - (x * c).flatten(1).mean(1), "mean")


def test_energy_rejects_one_number_for_the_batch_and_the_library():
    rejects(check_energy, lambda x, c, J: energy(x, c, J).sum(), "one value per sample")
    rejects(check_energy, ak.energy, "switched off")


# ----------------------------------------------------------------------------------- order_parameter


def r_sqrt(theta):
    return torch.sqrt(theta.cos().mean(-1) ** 2 + theta.sin().mean(-1) ** 2)


def test_order_parameter_right_answers_pass():
    accepts(check_order_parameter, r_sqrt)
    accepts(check_order_parameter, lambda th: torch.exp(1j * th).mean(-1).abs())
    accepts(check_order_parameter, lambda th: np.abs(np.exp(1j * th.numpy()).mean(-1)))


def test_order_parameter_rejects_common_mistakes():
    rejects(check_order_parameter, lambda th: th.cos().mean(-1).abs(), "only the cosines")
    rejects(check_order_parameter, lambda th: th.cos().mean(-1) ** 2 + th.sin().mean(-1) ** 2, "r²")
    rejects(check_order_parameter, lambda th: r_sqrt(th.transpose(0, -1)), "shape")
    rejects(check_order_parameter, lambda th: r_sqrt(th.flatten(0, -2)) if th.dim() > 2 else r_sqrt(th), "shape")


def test_order_parameter_rejects_the_library_nan_and_liars():
    rejects(check_order_parameter, ak.order_parameter, "switched off")
    rejects(check_order_parameter, lambda th: torch.full(th.shape[:-1], float("nan")), "NaN")
    rejects(check_order_parameter, lambda th: torch.zeros(th.shape[:-1], dtype=th.dtype).as_subclass(AlwaysEqual),
            "off by")


# ---------------------------------------------------------------------------------- critical_coupling


def simulate(w, Ks, theta0, dt, steps, per=True, sign=1.0):
    theta, M = theta0, len(w)
    for _ in range(steps):
        pull = torch.sin(theta[:, None, :] - theta[:, :, None]).sum(-1)  # Σ_j sin(θ_j - θ_i), O(M²)
        theta = theta + dt * (w + sign * Ks[:, None] / (M if per else 1) * pull)
    return r_sqrt(theta)


def critical(w, Ks, theta0, dt, steps, **kw):
    r = simulate(w, Ks, theta0, dt, steps, **kw)
    above = Ks[r > 0.5]
    return r, above[0] if len(above) else Ks[-1]


def critical_library(w, Ks, theta0, dt, steps):  # the chapter's way: ak.phase_rhs, float32, a list of numbers
    theta, w, Ks = theta0.float(), w.float(), Ks.float()
    for _ in range(steps):
        theta = theta + dt * (w + Ks[:, None] * ak.phase_rhs(theta, torch.zeros_like(w), 1.0))
    r = r_sqrt(theta)
    return r.tolist(), next(float(K) for K, v in zip(Ks, r) if v > 0.5)


def test_critical_coupling_right_answers_pass():
    accepts(check_critical_coupling, critical, seeds=(0, 1))
    accepts(check_critical_coupling, critical_library, seeds=(0, 1))


def test_critical_coupling_rejects_coupling_mistakes():
    rejects(check_critical_coupling, lambda *a: critical(*a, per=False), "K/M", seeds=(0,))
    rejects(check_critical_coupling, lambda *a: critical(*a, sign=-1.0), "sin(θ_j - θ_i)", seeds=(0,))


def test_critical_coupling_rejects_threshold_mistakes():
    def index(w, Ks, theta0, dt, steps):
        r = simulate(w, Ks, theta0, dt, steps)
        return r, int(torch.nonzero(r > 0.5)[0])

    def last_below(w, Ks, theta0, dt, steps):
        r = simulate(w, Ks, theta0, dt, steps)
        return r, Ks[int(torch.nonzero(r > 0.5)[0]) - 1]

    rejects(check_critical_coupling, index, "index", seeds=(0,))
    rejects(check_critical_coupling, last_below, "first whose r exceeds", seeds=(0,))


def test_critical_coupling_rejects_nan():
    rejects(check_critical_coupling, lambda w, Ks, th, dt, steps: (torch.full_like(Ks, float("nan")), 1.0), "NaN",
            seeds=(0,))


# --------------------------------------------------------------------------------------------- fg_ari


def fg_ari(true, pred):
    out = []
    for t, p in zip(true, pred):
        fg = t != 0
        t, p = t[fg], p[fg]
        table = torch.zeros(int(t.max()) + 1, int(p.max()) + 1, dtype=torch.float64)
        table.index_put_((t, p), torch.ones(len(t), dtype=torch.float64), accumulate=True)
        comb = lambda v: v * (v - 1) / 2  # noqa: E731
        index = comb(table).sum()
        a, b = comb(table.sum(1)).sum(), comb(table.sum(0)).sum()
        expected = a * b / comb(torch.tensor(float(len(t)), dtype=torch.float64))
        maximum = (a + b) / 2
        out.append(torch.tensor(1.0) if maximum == expected else (index - expected) / (maximum - expected))
    return torch.stack([o.float() for o in out])


def fg_ari_no_convention(true, pred):  # the formula as written: 0/0 on a single object predicted as one cluster
    out = []
    for t, p in zip(true, pred):
        fg = t != 0
        t, p = t[fg], p[fg]
        same_t, same_p = t[:, None] == t[None], p[:, None] == p[None]
        off = ~torch.eye(len(t), dtype=torch.bool)
        index = (same_t & same_p & off).sum() / 2
        a, b = (same_t & off).sum() / 2, (same_p & off).sum() / 2
        expected = a * b / (len(t) * (len(t) - 1) / 2)
        out.append((index - expected) / ((a + b) / 2 - expected))
    return torch.stack(out)


def fg_ari_pairs(true, pred):  # counted over pairs, a numpy array, convention for the trivial case
    out = []
    for t, p in zip(true.numpy(), pred.numpy()):
        t, p = t[t != 0], p[t != 0]
        same_t, same_p = t[:, None] == t[None], p[:, None] == p[None]
        off = ~np.eye(len(t), dtype=bool)
        index, a, b = (same_t & same_p & off).sum() / 2, (same_t & off).sum() / 2, (same_p & off).sum() / 2
        expected, maximum = a * b / (len(t) * (len(t) - 1) / 2), (a + b) / 2
        out.append(1.0 if maximum == expected else (index - expected) / (maximum - expected))
    return np.array(out)


def test_fg_ari_right_answers_pass():
    accepts(check_fg_ari, fg_ari)
    accepts(check_fg_ari, fg_ari_pairs)


def test_fg_ari_rejects_nan_on_a_single_object():
    rejects(check_fg_ari, fg_ari_no_convention, "single object", "ARI is 1 by convention")


def test_fg_ari_rejects_background_and_plain_rand_index():
    rejects(check_fg_ari, lambda t, p: fg_ari(t + 1, p), "background")

    def rand_index(true, pred):
        out = []
        for t, p in zip(true, pred):
            t, p = t[t != 0], p[t != 0]
            agree = ((t[:, None] == t[None]) == (p[:, None] == p[None])).double()
            out.append((agree.sum() - len(t)) / (len(t) * (len(t) - 1)))
        return torch.stack(out)

    rejects(check_fg_ari, rand_index, "Rand index")


def test_fg_ari_rejects_the_library_and_liars():
    rejects(check_fg_ari, lambda t, p: library_fg_ari(t, p), "switched off")

    def sklearn_ari(true, pred):
        from sklearn.metrics import adjusted_rand_score

        return torch.tensor([adjusted_rand_score(t[t != 0], p[t != 0]) for t, p in zip(true, pred)])

    rejects(check_fg_ari, sklearn_ari, "switched off")
    rejects(check_fg_ari, lambda t, p: torch.zeros(len(t)).as_subclass(AlwaysEqual), "off by")

    class Liar:
        def __eq__(self, other):
            return True

    rejects(check_fg_ari, lambda t, p: Liar(), "should be")


def test_theory_agrees_with_the_cases():  # the checker's cases lock near Kuramoto's K_c = 2 / (π g(0))
    g = torch.Generator().manual_seed(0)
    w = torch.randn(200, generator=g, dtype=torch.float64)
    Ks = torch.linspace(0, 4, 9, dtype=torch.float64)
    r, K_c = critical(w, Ks, 2 * math.pi * torch.rand(9, 200, generator=g, dtype=torch.float64), 0.1, 300)
    assert 1.0 <= float(K_c) <= 2.5


def test_the_checkers_reference_helpers_are_switched_off():
    from dyngeo.grading import akorn

    assert not any(name.startswith("_") for name in akorn.__all__)
    rejects(check_fg_ari, akorn._ari, "switched off")
    rejects(check_kuramoto_step, akorn._step, "switched off")
