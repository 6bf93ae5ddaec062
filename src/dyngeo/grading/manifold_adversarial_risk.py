"""Checkers for the exercise set "Adversarial risk on and off the manifold"
(``exercises/11-manifold-adversarial-risk``).

Each checker draws its cases from ``seed``, has the answer called through ``ask`` and compares what
comes back with closed forms computed here. The library functions that answer an exercise
(``dyngeo.geometry.manifold_risk``, ``dyngeo.attacks``) are switched off while the answers run.
"""

import math

import numpy as np
import torch

from . import GradingError, checker, judge

__all__ = ["check_l2_pgd_step", "check_circle_parts", "check_linear_adversarial_risk", "check_cw_objective",
           "check_circle_terms"]

DT = torch.float64
MR = "dyngeo.geometry.manifold_risk."
NO_RISK = [MR + n for n in ("standard_risk", "adversarial_risk", "normal_risk", "in_manifold_risk", "decomposition",
                            "linear_adversarial_risk", "tangent_part", "normal_part", "nearby_normal_risk")]
NO_ATTACKS = ["dyngeo.attacks.gradient.pgd", "dyngeo.attacks.gradient.fgsm", "dyngeo.attacks.carlini_wagner.cw_l2",
              "dyngeo.attacks.carlini_wagner.cw_objective", "dyngeo.attacks.carlini_wagner._margin"]


def _rows(v):
    return v.norm(dim=1, keepdim=True)


@checker(points=2, target="l2_pgd_step", forbid=NO_ATTACKS)
def check_l2_pgd_step(ask, seed):
    """One L2 PGD step from x along g, projected onto the ball of radius eps around x0."""
    g = torch.Generator().manual_seed(seed)
    for case, dim, spread, alpha in (("a long step in 2-D", 2, 0.5, 1.5), ("iterates well inside the ball", 5, 0.05, 0.3),
                                     ("iterates near the rim", 5, 0.9, 0.3)):
        x0 = torch.randn(6, dim, generator=g, dtype=DT)
        eps = 0.5
        u = torch.randn(6, dim, generator=g, dtype=DT)
        x = x0 + spread * eps * u / _rows(u)
        grad = torch.randn(6, dim, generator=g, dtype=DT) * torch.tensor([[0.1], [1], [10], [0.5], [3], [1]], dtype=DT)
        got = ask("answer(x.clone(), grad.clone(), x0.clone(), alpha, eps)", case=case, x=x, grad=grad, x0=x0,
                  alpha=alpha, eps=eps)
        step = x + alpha * grad / _rows(grad)
        d = step - x0
        want = x0 + d * (eps / _rows(d)).clamp(max=1)
        hints = [(step, "the step is not projected back into the ball ‖x' − x0‖ ≤ eps"),
                 (x0 + (step - x0).clamp(-eps, eps), "the projection clips each coordinate: that is the L∞ box, "
                                                     "not the L2 ball (rescale the whole difference)"),
                 (x0 + ((x + alpha * grad.sign()) - x0) * (eps / _rows((x + alpha * grad.sign()) - x0)).clamp(max=1),
                  "the step uses sign(g), the L∞ step; L2 PGD moves along g / ‖g‖"),
                 (x0 + ((x + alpha * grad / grad.norm()) - x0) * (eps / _rows((x + alpha * grad / grad.norm()) - x0))
                  .clamp(max=1), "g is divided by the norm of the whole batch; normalise each row"),
                 (x0 + d * eps / _rows(d), "every point is put on the sphere; points inside the ball stay where "
                                           "they are")]
        judge.close(got, want, "the new iterate", rtol=1e-6, atol=1e-6, hints=hints, case=case)


@checker(points=2, target="circle_parts", forbid=NO_RISK)
def check_circle_parts(ask, seed):
    """The normal (radial) and tangent parts of vectors at points of the unit circle."""
    g = torch.Generator().manual_seed(seed)
    th = torch.rand(10, generator=g, dtype=DT) * 2 * math.pi
    X = torch.stack([th.cos(), th.sin()], 1)
    V = torch.randn(10, 2, generator=g, dtype=DT)
    got = judge.sequence(ask("tuple(answer(X.clone(), V.clone()))", case="10 points of the circle", X=X, V=V),
                         "circle_parts's (normal, tangent)", 2)
    nrm = (V * X).sum(1, keepdim=True) * X
    tan = V - nrm
    judge.close(got[0], nrm.numpy(), "the normal part", hints=[(tan, "the normal and tangent parts are swapped"),
                                                       ((V * X).sum(1), "return the normal *vector* (v·x) x, "
                                                                           "not its coefficient")])
    judge.close(got[1], tan.numpy(), "the tangent part", hints=[(nrm, "the normal and tangent parts are swapped")])


@checker(points=2, target="linear_adversarial_risk", forbid=NO_RISK + NO_ATTACKS)
def check_linear_adversarial_risk(ask, seed):
    """The exact L2 adversarial risk of s(x) = w·x + b: the fraction of points with margin at most eps."""
    rng = np.random.default_rng(seed)
    for dim in (2, 5):
        w, b = rng.normal(size=dim) * 2, float(rng.normal())
        X = rng.normal(size=(400, dim))
        y = np.where(rng.random(400) < 0.8, np.sign(X @ w + b), -np.sign(X @ w + b))
        for eps in (0.0, 0.2, 0.7):
            case = f"D = {dim}, eps = {eps}"
            got = ask("answer(w.copy(), b, X.copy(), y.copy(), eps)", case=case, w=w, b=b, X=X, y=y, eps=eps)
            m = y * (X @ w + b)
            want = float(np.mean(m <= eps * np.linalg.norm(w)))
            hints = [(float(np.mean(m <= eps)), "the margin y (w·x + b) must be divided by ‖w‖ (the distance to "
                                                "the boundary), or eps multiplied by it"),
                     (float(np.mean(m <= eps * np.abs(w).sum())), "‖w‖₁ belongs to the L∞ ball; the L2 ball "
                                                                   "needs the Euclidean norm ‖w‖₂"),
                     (float(np.mean(m <= eps * np.linalg.norm(w) ** 2)), "divide by ‖w‖, not ‖w‖²")]
            if eps > 0:
                hints.append((float(np.mean(m <= 0)), "eps is ignored: this is the standard risk"))
            judge.close_number(got, want, "the adversarial risk", atol=1e-12, hints=hints, case=case)


@checker(points=2, target="cw_objective", forbid=NO_ATTACKS)
def check_cw_objective(ask, seed):
    """‖adv − x‖² + c · max(Z_y − max_{i≠y} Z_i, −κ) per row."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(7, 1, 3, 3, generator=g, dtype=DT)
    adv = (x + 0.2 * torch.randn(7, 1, 3, 3, generator=g, dtype=DT)).clamp(0, 1)
    logits = torch.randn(7, 4, generator=g, dtype=DT) * 2 - 1.5  # logits of both signs, mostly negative
    y = torch.randint(0, 4, (7,), generator=g)
    y = torch.where(torch.arange(7) < 4, logits.argmax(1), y)  # some rows classified right, some not
    for c, kappa in ((1.0, 0.0), (5.0, 0.5)):
        case = f"c = {c}, kappa = {kappa}"
        got = ask("answer(logits.clone(), y.clone(), adv.clone(), x.clone(), c, kappa)", case=case, logits=logits,
                  y=y, adv=adv, x=x, c=c, kappa=kappa)
        l2 = (adv - x).flatten(1).pow(2).sum(1)
        real = logits.gather(1, y[:, None])[:, 0]
        other = logits.masked_fill(torch.nn.functional.one_hot(y, 4).bool(), float("-inf")).amax(1)
        want = l2 + c * (real - other).clamp_min(-kappa)
        onehot = torch.nn.functional.one_hot(y, 4).to(DT)
        buggy = ((onehot * logits).amax(1) - ((1 - onehot) * logits).amax(1)).clamp_min(-kappa)
        hints = [(l2.sqrt() + c * (real - other).clamp_min(-kappa), "the distance term is ‖adv − x‖², squared"),
                 (l2 + c * buggy, "zeroing the true class's logit (one-hot masking by multiplication) fails when "
                                  "the logits are negative: mask it with −inf instead"),
                 (l2 + c * (real - logits.amax(1)).clamp_min(-kappa), "the max must run over the other classes "
                                                                       "i ≠ y only"),
                 (l2 + c * (real - other), "the margin is not clamped at −kappa"),
                 (l2 + c * (other - real).clamp_min(-kappa), "the margin is Z_y − max_{i≠y} Z_i (untargeted); "
                                                               "the order is reversed")]
        judge.close(got, want, "the objective", hints=hints, case=case)


def _arc_extrema(th, a):
    """min and max of cos over the arcs [th − a, th + a]."""
    lo, hi = th - a, th + a
    ends = torch.stack([lo.cos(), hi.cos()], 1)
    has_zero = torch.floor(hi / (2 * math.pi)) > torch.floor((lo - 1e-15) / (2 * math.pi))  # the arc holds 0 mod 2π
    has_pi = torch.floor((hi - math.pi) / (2 * math.pi)) > torch.floor((lo - math.pi - 1e-15) / (2 * math.pi))
    return torch.where(has_pi, -1.0, ends.amin(1)), torch.where(has_zero, 1.0, ends.amax(1))


def _terms(c, th, y, eps, half_angle):
    X = torch.stack([th.cos(), th.sin()], 1)
    std = y * (X[:, 0] - c) <= 0
    ends = torch.stack([(1 + s) * X[:, 0] - c for s in (-eps, eps)], 1)
    nor = (y[:, None] * ends <= 0).any(1)
    lo, hi = _arc_extrema(th, half_angle)
    inn = torch.where(y > 0, lo <= c, hi >= c)
    return std, nor, inn


@checker(points=3, target="circle_terms", forbid=NO_RISK)
def check_circle_terms(ask, seed):
    """Per point of the unit circle: standard risk, normal risk at eps and in-manifold risk at 2 eps of
    s(x) = x1 − c, labels given (some disagree with s)."""
    g = torch.Generator().manual_seed(seed)
    for c, eps in ((0.2, 0.3), (-0.4, 0.45)):
        n = 1500
        th = torch.rand(n, generator=g, dtype=DT) * 2 * math.pi - math.pi
        truth = torch.where(th.cos() > c, 1.0, -1.0).to(DT)
        y = torch.where(torch.rand(n, generator=g) < 0.9, truth, -truth)
        case = f"c = {c}, eps = {eps}"
        got = judge.sequence(ask("tuple(answer(c, theta.clone(), y.clone(), eps))", case=case, c=c, theta=th, y=y,
                                 eps=eps), "circle_terms's (std, nor, in2)", 3)
        got = [torch.as_tensor(judge.array(v, name, kind="bool").reshape(-1)) for v, name in zip(got, ("std", "nor", "in2"))]
        std, nor, inn = _terms(c, th, y, eps, 2 * math.asin(eps))
        # points within 1e-3 (angle or score) of a threshold may go either way on a grid
        b = math.acos(c)
        near = ((th.abs() - b).abs() - 2 * math.asin(eps)).abs() < 2e-3
        near_nor = torch.stack([((1 + s) * th.cos() - c).abs() for s in (-eps, eps)], 1).amin(1) < 2e-3
        for name, mine, want, ok, alts in (
                ("the standard risk", got[0], std, torch.zeros(n, dtype=torch.bool), []),
                ("the normal risk", got[1], nor, near_nor,
                 [((y * ((1 + eps) * th.cos() - c) <= 0) | std, "only the outward direction was searched; the normal "
                                                        "line goes both ways, t in [−eps, eps]")]),
                ("the in-manifold risk at 2 eps", got[2], inn, near,
                 [(_terms(c, th, y, eps, 2 * math.asin(eps / 2))[2], "that is the in-manifold risk at eps; the "
                                                                      "theorem uses 2 eps"),
                  (_terms(c, th, y, eps, 2 * eps)[2], "a chord of length 2 eps spans the angle 2 arcsin(eps), "
                                                      "not 2 eps (that is the arc length)")])):
            if mine.shape != tuple(want.shape):
                raise GradingError(f"{name} ({case}) should have one entry per point, {n}; got {mine.shape}")
            wrong = (torch.as_tensor(mine) != want) & ~ok
            if wrong.any():
                cause = next((why for alt, why in alts if not ((torch.as_tensor(mine) != alt) & ~ok).any()), "")
                k = int(wrong.nonzero()[0])
                raise GradingError(f"{name} ({case}) is wrong at {int(wrong.sum())} of {n} points, e.g. θ = "
                                   f"{th[k]:.4f}, y = {int(y[k])}: expected {bool(want[k])}"
                                   + (f". Likely cause: {cause}" if cause else ""))
