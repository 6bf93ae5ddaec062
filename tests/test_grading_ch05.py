"""Each checker of Chapter 5 accepts the reference answer and rejects plausible wrong ones."""

import torch

from dyngeo.grading import run_check
from dyngeo.grading.ch05 import (check_energy, check_fg_ari, check_kuramoto_step, check_order_parameter,
                                 check_project_tangent)
from dyngeo.metrics import fg_ari
from dyngeo.models import akorn as ak

from checking import rejects


def test_references_pass():
    assert run_check(check_project_tangent, ak.project_tangent) == (True, "passed")
    assert run_check(check_kuramoto_step, ak.kuramoto_step) == (True, "passed")
    assert run_check(check_energy, ak.energy) == (True, "passed")
    assert run_check(check_order_parameter, ak.order_parameter) == (True, "passed")
    assert run_check(check_fg_ari, lambda t, p: fg_ari(t, p)) == (True, "passed")


def test_project_tangent_rejects_wrong_grouping_and_sign():
    def wrong_axis(y, x, n):  # groups channels k, k+C/n, ... instead of consecutive ones
        yg, xg = y.unflatten(1, (n, -1)), x.unflatten(1, (n, -1))
        return (yg - (yg * xg).sum(1, keepdim=True) * xg).flatten(1, 2)

    def plus_sign(y, x, n):
        yg, xg = y.unflatten(1, (-1, n)), x.unflatten(1, (-1, n))
        return (yg + (yg * xg).sum(2, keepdim=True) * xg).flatten(1, 2)

    rejects(check_project_tangent, wrong_axis, "not tangent", "group")
    rejects(check_project_tangent, plus_sign, "not tangent")


def test_kuramoto_step_rejects_missing_normalisation_projection_and_transposed_omega():
    def no_norm(x, c, J, omega, gamma, n):
        return x + gamma * ak.kuramoto_rhs(x, c, J, omega, n)

    def no_proj(x, c, J, omega, gamma, n):
        return ak.kuramoto_step(x, c, J, omega, gamma, n, project=False)

    def transposed(x, c, J, omega, gamma, n):
        return ak.kuramoto_step(x, c, J, None if omega is None else omega.T, gamma, n)

    rejects(check_kuramoto_step, no_norm, "unit norm")
    rejects(check_kuramoto_step, no_proj, "projection")
    rejects(check_kuramoto_step, transposed, "wrong way")


def test_energy_rejects_missing_half_and_wrong_stimulus_sign():
    def no_half(x, c, J):
        return -(x * J(x)).flatten(1).sum(1) - (x * c).flatten(1).sum(1)

    def plus_c(x, c, J):
        return -0.5 * (x * J(x)).flatten(1).sum(1) + (x * c).flatten(1).sum(1)

    def total(x, c, J):  # one number for the whole batch
        return ak.energy(x, c, J).sum()

    rejects(check_energy, no_half, "1/2")
    rejects(check_energy, plus_c, "sign")
    rejects(check_energy, total, "one value per sample")


def test_order_parameter_rejects_cosine_only_and_wrong_axis():
    rejects(check_order_parameter, lambda th: th.cos().mean(-1).abs(), "r for")
    rejects(check_order_parameter, lambda th: ak.order_parameter(th.transpose(0, -1)), "shape")


def test_fg_ari_rejects_background_and_plain_rand_index():
    def with_background(true, pred):  # forgets to drop background pixels
        return fg_ari(true + 1, pred)

    def rand_index(true, pred):
        out = []
        for t, p in zip(true, pred):
            fg = t != 0
            t, p = t[fg], p[fg]
            same_t = t[:, None] == t[None]
            same_p = p[:, None] == p[None]
            agree = (same_t == same_p).float()
            out.append((agree.sum() - len(t)) / (len(t) * (len(t) - 1)))
        return torch.stack(out)

    rejects(check_fg_ari, with_background, "background")
    rejects(check_fg_ari, rand_index, "FG-ARI")
