"""The checkers of the set "Adversarial risk on and off the manifold": mistakes lose points with a
message naming the cause, right answers written differently pass."""

import math

import numpy as np
import torch

from dyngeo.grading.manifold_adversarial_risk import (check_circle_parts, check_circle_terms, check_cw_objective,
                                                      check_l2_pgd_step, check_linear_adversarial_risk)

from checking import accepts, rejects, solution_namespace

torch.set_num_threads(1)
SOLUTION = solution_namespace("11-manifold-adversarial-risk.md")
l2_pgd_step, circle_parts = SOLUTION["l2_pgd_step"], SOLUTION["circle_parts"]
linear_adversarial_risk, cw_objective, circle_terms = (SOLUTION["linear_adversarial_risk"], SOLUTION["cw_objective"],
                                                        SOLUTION["circle_terms"])


def project_l2(z, x0, e):
    d = z - x0
    return x0 + d * (e / d.norm(dim=1, keepdim=True)).clamp(max=1)


def test_l2_pgd_step():
    accepts(check_l2_pgd_step, l2_pgd_step)

    def with_renorm(x, g, x0, alpha, eps):  # torch.renorm projects rows onto the ball too
        new = x + alpha * torch.nn.functional.normalize(g, dim=1)
        return x0 + torch.renorm(new - x0, p=2, dim=0, maxnorm=eps)

    accepts(check_l2_pgd_step, with_renorm)
    rejects(check_l2_pgd_step, lambda x, g, x0, a, e: x + a * g / g.norm(dim=1, keepdim=True), "not projected")
    rejects(check_l2_pgd_step, lambda x, g, x0, a, e: x0 + (x + a * g / g.norm(dim=1, keepdim=True) - x0).clamp(-e, e),
            "L∞ box")
    rejects(check_l2_pgd_step, lambda x, g, x0, a, e: l2_pgd_step(x, g.sign(), x0, a * math.sqrt(x.shape[1]), e),
            "sign(g)")  # sign(g) has norm sqrt(D): this is the L∞ step x + a sign(g)
    rejects(check_l2_pgd_step, lambda x, g, x0, a, e: project_l2(x + a * g / g.norm(), x0, e), "each row")

    def on_sphere(x, g, x0, a, e):
        d = x + a * g / g.norm(dim=1, keepdim=True) - x0
        return x0 + d * e / d.norm(dim=1, keepdim=True)

    rejects(check_l2_pgd_step, on_sphere, "inside the ball")


def test_circle_parts():
    accepts(check_circle_parts, circle_parts)
    accepts(check_circle_parts, lambda X, V: (((V * X).sum(1, keepdim=True) * X).numpy(),
                                             (V - (V * X).sum(1, keepdim=True) * X).tolist()))
    rejects(check_circle_parts, lambda X, V: circle_parts(X, V)[::-1], "swapped")
    rejects(check_circle_parts, lambda X, V: ((V * X).sum(1), circle_parts(X, V)[1]), "shape (10, 2)")


def test_linear_adversarial_risk():
    accepts(check_linear_adversarial_risk, linear_adversarial_risk)
    accepts(check_linear_adversarial_risk,
            lambda w, b, X, y, eps: np.count_nonzero(y * (X @ w + b) <= eps * math.sqrt(w @ w)) / len(y))
    rejects(check_linear_adversarial_risk, lambda w, b, X, y, eps: float(np.mean(y * (X @ w + b) <= eps)), "‖w‖")
    rejects(check_linear_adversarial_risk,
            lambda w, b, X, y, eps: float(np.mean(y * (X @ w + b) <= eps * np.abs(w).sum())), "L∞")
    rejects(check_linear_adversarial_risk, lambda w, b, X, y, eps: float(np.mean(y * (X @ w + b) <= 0)), "standard risk")


def test_cw_objective():
    accepts(check_cw_objective, cw_objective)

    def with_topk(logits, y, adv, x, c, kappa):
        top2 = logits.topk(2, dim=1)
        other = torch.where(top2.indices[:, 0] == y, top2.values[:, 1], top2.values[:, 0])
        real = logits.gather(1, y[:, None]).squeeze(1)
        return torch.linalg.vector_norm((adv - x).flatten(1), dim=1) ** 2 + c * torch.maximum(real - other,
                                                                                             torch.tensor(-kappa))

    accepts(check_cw_objective, with_topk)

    def torchattacks_masking(logits, y, adv, x, c, kappa):
        onehot = torch.nn.functional.one_hot(y, logits.shape[1]).to(logits.dtype)
        other = ((1 - onehot) * logits).max(1).values
        real = (onehot * logits).max(1).values
        return ((adv - x) ** 2).flatten(1).sum(1) + c * torch.clamp(real - other, min=-kappa)

    rejects(check_cw_objective, torchattacks_masking, "−inf")
    rejects(check_cw_objective, lambda lg, y, a, x, c, k: cw_objective(lg, y, a, x, c, k)
            - ((a - x) ** 2).flatten(1).sum(1) + (a - x).flatten(1).norm(dim=1), "squared")

    def max_over_all(lg, y, a, x, c, k):
        real = lg.gather(1, y[:, None])[:, 0]
        return ((a - x) ** 2).flatten(1).sum(1) + c * (real - lg.max(1).values).clamp(min=-k)

    rejects(check_cw_objective, max_over_all, "i ≠ y")

    def no_clamp(lg, y, a, x, c, k):
        return cw_objective(lg, y, a, x, c, 1e9)

    rejects(check_cw_objective, no_clamp, "−kappa", seeds=(0, 1))


def test_circle_terms():
    accepts(check_circle_terms, circle_terms)

    def closed_form(c, theta, y, eps):  # extremes of cos over the arc, with NumPy
        theta, y = np.asarray(theta), np.asarray(y)
        a = 2 * math.asin(eps)
        lo, hi = theta - a, theta + a
        has0 = np.floor(hi / (2 * np.pi)) > np.floor(lo / (2 * np.pi))
        haspi = np.floor((hi - np.pi) / (2 * np.pi)) > np.floor((lo - np.pi) / (2 * np.pi))
        mn = np.where(haspi, -1, np.minimum(np.cos(lo), np.cos(hi)))
        mx = np.where(has0, 1, np.maximum(np.cos(lo), np.cos(hi)))
        in2 = np.where(y > 0, mn <= c, mx >= c)
        nor = (y * ((1 - eps) * np.cos(theta) - c) <= 0) | (y * ((1 + eps) * np.cos(theta) - c) <= 0)
        return list(y * (np.cos(theta) - c) <= 0), nor.astype(int), in2

    accepts(check_circle_terms, closed_form)

    def at_eps(c, theta, y, eps):
        s, n, _ = circle_terms(c, theta, y, eps)
        return s, n, closed_form_in(c, theta, y, 2 * math.asin(eps / 2))

    def closed_form_in(c, theta, y, half):
        phi = torch.as_tensor(theta)[:, None] + torch.linspace(-half, half, 2001, dtype=torch.float64)[None]
        return (torch.as_tensor(y)[:, None] * (phi.cos() - c) <= 0).any(1)

    rejects(check_circle_terms, at_eps, "2 eps")
    rejects(check_circle_terms, lambda c, th, y, eps: (*circle_terms(c, th, y, eps)[:2], closed_form_in(c, th, y, 2 * eps)),
            "arcsin")

    def outward_only(c, theta, y, eps):
        s, _, i = circle_terms(c, theta, y, eps)
        t = torch.linspace(0, eps, 101, dtype=torch.float64)[1:]
        cos = torch.as_tensor(theta).cos()
        return s, (torch.as_tensor(y)[:, None] * ((1 + t) * cos[:, None] - c) <= 0).any(1), i

    rejects(check_circle_terms, outward_only, "both ways")
    rejects(check_circle_terms, lambda c, th, y, eps: circle_terms(c, th, y, eps)[:2] + (circle_terms(c, th, y, eps)[2][:10],),
            "one entry per point")
