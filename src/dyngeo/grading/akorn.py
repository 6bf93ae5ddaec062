"""Checkers for the exercise set "Kuramoto oscillatory neurons" (``exercises/05-akorn``).

Each checker draws its cases from ``seed``, has the answer called through ``ask`` and judges the
plain values that come back (see :mod:`dyngeo.grading`). The expected values come from the private
helpers below (switched off, with the rest of this module, while an answer runs); the library's
own AKOrN functions that answer an exercise are switched off too.
"""

import math

import numpy as np
import torch

from . import GradingError, checker, judge

__all__ = ["check_project_tangent", "check_kuramoto_step", "check_energy", "check_order_parameter",
           "check_critical_coupling", "check_fg_ari"]

DT = torch.float64
AK = "dyngeo.models.akorn."
STEP = [AK + name for name in ("project_tangent", "normalize", "apply_omega", "_rotate", "kuramoto_rhs", "kuramoto_step",
                               "released_step", "rollout")]

# ------------------------------------------------------------------------------ oscillator helpers


def _group(x, n):
    return x.unflatten(1, (-1, n))


def _proj(y, x, n, sign=-1):
    yg, xg = _group(y, n), _group(x, n)
    return (yg + sign * (yg * xg).sum(2, keepdim=True) * xg).flatten(1, 2)


def _normalize(x, n):
    xg = _group(x, n)
    return (xg / xg.norm(dim=2, keepdim=True)).flatten(1, 2)


def _rotate(omega, x, n):
    return (_group(x, n).movedim(2, -1) @ omega.T).movedim(-1, 2).flatten(1, 2)


def _step(x, c, J, omega, gamma, n, project=True, omega_side="left", norm="oscillator", projected="c + Jx"):
    y = c + J(x)
    if projected == "Jx":
        dx = _proj(J(x), x, n) + c
    else:
        dx = _proj(y, x, n) if project else y
    if omega is not None:
        dx = dx + _rotate(omega if omega_side == "left" else omega.T, x, n)
    z = x + gamma * dx
    if norm == "oscillator":
        return _normalize(z, n)
    if norm == "global":
        return z / z.flatten(1).norm(dim=1).view(-1, *[1] * (z.dim() - 1))
    return z


def _states(g, n):
    """(description, x, y): unit oscillators in a fully connected layout and on a 4 x 4 grid."""
    out = []
    for shape in ((3, 5 * n), (2, 3 * n, 4, 4)):
        x = _normalize(torch.randn(shape, generator=g, dtype=DT), n)
        out.append((f"x of shape {shape}, n = {n}", x, torch.randn(shape, generator=g, dtype=DT)))
    return out


@checker(points=2, target="project_tangent", forbid=[AK + "project_tangent", AK + "kuramoto_rhs", AK + "kuramoto_step"])
def check_project_tangent(ask, seed):
    """Proj_x(y) = y - <y, x> x, oscillator by oscillator (groups of n consecutive channels)."""
    g = torch.Generator().manual_seed(seed)
    for n in (2, 3, 4):
        for case, x, y in _states(g, n):
            got = ask("answer(y.clone(), x.clone(), n)", case=case, x=x, y=y, n=n)
            expected = _proj(y, x, n)
            inner = (y * x).flatten(1).sum(1).view(-1, *[1] * (x.dim() - 1))
            strided = (y.unflatten(1, (n, -1)) - (y.unflatten(1, (n, -1)) * x.unflatten(1, (n, -1))).sum(1, keepdim=True)
                       * x.unflatten(1, (n, -1))).flatten(1, 2)
            judge.close(got, expected, "Proj_x(y)", rtol=1e-7, atol=1e-10, case=case, hints=[
                (_proj(y, x, n, sign=+1), "<y, x> x is added; the projection subtracts it"),
                (y - inner * x, "<y, x> is taken over the whole sample; take it per oscillator (groups of n channels)"),
                (strided, "the channels are grouped the wrong way: oscillator k is channels k*n, ..., k*n+n-1 "
                 "(x.unflatten(1, (-1, n)))"),
                (y, "nothing was subtracted: remove the component <y, x> x along x")])
    case, x, _ = _states(g, 4)[1]
    got = ask("answer(x.clone(), x.clone(), 4)", case="Proj_x(x)", x=x)
    judge.close(got, torch.zeros_like(x), "Proj_x(x) (it should vanish)", atol=1e-10, case=case)


def _skew(g, n):
    A = torch.randn(n, n, generator=g, dtype=DT)
    return 0.7 * (A - A.T)


JS = {"dense": "J = lambda v: v @ W.T", "conv": "J = lambda v: torch.nn.functional.conv2d(v, W, padding=1)"}


def _coupling(kind, W):
    if kind == "dense":
        return lambda v: v @ W.T
    return lambda v: torch.nn.functional.conv2d(v, W, padding=1)


def _weights(g, x):
    C = x.shape[1]
    if x.dim() == 2:
        return "dense", torch.randn(C, C, generator=g, dtype=DT) / math.sqrt(C)
    return "conv", torch.randn(C, C, 3, 3, generator=g, dtype=DT) / math.sqrt(9 * C)


@checker(points=3, target="kuramoto_step", forbid=STEP)
def check_kuramoto_step(ask, seed):
    """One step of eqs. (4)-(5): x <- Pi[x + gamma (Omega x + Proj_x(c + J x))], per oscillator."""
    g = torch.Generator().manual_seed(seed)
    for n in (2, 4):
        for what, x, c in _states(g, n):
            kind, W = _weights(g, x)
            J = _coupling(kind, W)
            for omega in (None, _skew(g, n)):
                gamma = 0.2 + 0.6 * torch.rand((), generator=g).item()
                case = f"{what}, {'a rotation Ω' if omega is not None else 'omega = None'}, γ = {gamma:.3f}"
                got = ask(JS[kind] + "\nresult = answer(x.clone(), c.clone(), J, omega, gamma, n)", case=case,
                          x=x, c=c, W=W, omega=omega, gamma=gamma, n=n)
                expected = _step(x, c, J, omega, gamma, n)
                value = judge.tensor(got, "the new state", shape=x.shape)
                norms = _group(value, n).norm(dim=2)
                if (norms - 1).abs().max() > 1e-6:
                    cause = ("the step is not normalised: apply Π, x / ‖x‖, to every oscillator"
                             if torch.allclose(value, _step(x, c, J, omega, gamma, n, norm=None), atol=1e-9) else
                             "the whole sample was normalised at once; Π normalises every oscillator (each group of n "
                             "channels) on its own" if torch.allclose(value, _step(x, c, J, omega, gamma, n,
                                                                                   norm="global"), atol=1e-9)
                             else "apply Π, x / ‖x‖, to every oscillator (each group of n channels)")
                    raise GradingError(f"for {case} the oscillators do not have unit norm after the step (norms from "
                                       f"{norms.min():.3f} to {norms.max():.3f}): {cause}")
                hints = [(_step(x, c, J, omega, gamma, n, project=False), "the tangent projection of c + J x is "
                          "missing"),
                         (_step(x, c, J, omega, gamma, n, projected="Jx"), "only J x was projected; project c + J x")]
                if omega is not None:
                    hints += [(_step(x, c, J, omega, gamma, n, omega_side="right"), "the rotation goes the wrong way: "
                               "the natural-frequency term is Ω x_i (x_i as a column), i.e. x @ Ω.T on rows"),
                              (_step(x, c, J, None, gamma, n), "the natural-frequency term Ω x is missing")]
                judge.close(value, expected, "the new state", rtol=1e-7, atol=1e-10, case=case, hints=hints)


@checker(points=2, target="energy", forbid=[AK + "energy", AK + "rollout"])
def check_energy(ask, seed):
    """Eq. (3), one value per sample: -1/2 sum x_i^T J_ij x_j - sum c_i^T x_i."""
    g = torch.Generator().manual_seed(seed)
    for what, x, c in _states(g, 4) + _states(g, 2):
        kind, W = _weights(g, x)
        J = _coupling(kind, W)
        got = ask(JS[kind] + "\nresult = answer(x.clone(), c.clone(), J)", case=what, x=x, c=c, W=W)
        coupling = (x * J(x)).flatten(1).sum(1)
        stimulus = (x * c).flatten(1).sum(1)
        expected = -0.5 * coupling - stimulus
        value = judge.tensor(got, "the energy")
        if value.numel() == 1 and x.shape[0] > 1:
            raise GradingError(f"for {what} the energy should be one value per sample, shape ({x.shape[0]},); got "
                               f"{judge.describe(got)} (sum over everything but the batch axis)")
        judge.close(value, expected, "the energy", rtol=1e-7, atol=1e-10, case=what, hints=[
            (-coupling - stimulus, "the coupling term is missing the factor 1/2 of eq. (3)"),
            (-0.5 * coupling + stimulus, "the stimulus term has the wrong sign: E contains - Σ_i c_iᵀ x_i"),
            (0.5 * coupling + stimulus, "the sign of the whole energy is flipped"),
            (-0.5 * coupling, "the stimulus term - Σ_i c_iᵀ x_i is missing"),
            (expected / x[0].numel(), "a mean over the channels and positions; eq. (3) sums them")])


@checker(points=1, target="order_parameter", forbid=[AK + "order_parameter", AK + "vector_order_parameter"])
def check_order_parameter(ask, seed):
    """r = |mean_j exp(i theta_j)| over the last axis, for any leading shape."""
    g = torch.Generator().manual_seed(seed)
    M = int(torch.randint(30, 60, (), generator=g))
    cases = [("identical phases", torch.full((2, 7), 2.5, dtype=DT)),
             ("evenly spread phases", (torch.arange(6, dtype=DT) * 2 * math.pi / 6).expand(3, 6).clone()),
             (f"random phases [4, {M}]", 2 * math.pi * torch.rand(4, M, generator=g, dtype=DT)),
             ("a cluster near 0.3 and random phases, shape [2, 3, 40]",
              torch.cat([0.3 + 0.4 * torch.randn(2, 3, 25, generator=g, dtype=DT),
                         2 * math.pi * torch.rand(2, 3, 15, generator=g, dtype=DT)], -1))]
    for what, theta in cases:
        got = ask("answer(theta.clone())", case=what, theta=theta)
        if isinstance(got, (torch.Tensor, np.ndarray)) and tuple(got.shape) != tuple(theta.shape[:-1]):
            raise GradingError(f"for {what} of shape {tuple(theta.shape)} r should have one value per row, shape "
                               f"{tuple(theta.shape[:-1])}; got shape {tuple(got.shape)}: average over the last axis")
        z = torch.complex(theta.cos().mean(-1), theta.sin().mean(-1))
        judge.close(got, z.abs().numpy(), "r", rtol=1e-7, atol=1e-10, case=what, hints=[
            (z.abs() ** 2, "that is r²: take the square root (the modulus of the mean)"),
            (theta.cos().mean(-1).abs(), "only the cosines were averaged: r is the modulus of the complex mean of "
             "e^{iθ}, both cos and sin"),
            (theta.cos().mean(-1) + theta.sin().mean(-1), "r is the modulus √(mean cos² + mean sin²), not a sum")])
    theta = cases[2][1]
    got = ask("answer(theta + 1.0)", case="every phase of the random case turned by 1", theta=theta)
    judge.close(got, torch.complex(theta.cos().mean(-1), theta.sin().mean(-1)).abs().numpy(),
                "r after turning every phase by 1 (it should not change)", rtol=1e-7, atol=1e-10)


def _sync(w, Ks, theta0, dt, steps, per=True, sign=1.0, drift=True):
    """Euler steps of dθ_i/dt = w_i + (K/M) Σ_j sin(θ_j - θ_i) for each K; r at the end."""
    theta, M = theta0.clone(), w.shape[0]
    for _ in range(steps):
        s, co = theta.sin(), theta.cos()
        pull = s.sum(-1, keepdim=True) * co - co.sum(-1, keepdim=True) * s  # Σ_j sin(θ_j - θ_i)
        theta = theta + dt * (drift * w + sign * Ks[:, None] / (M if per else 1) * pull)
    return torch.complex(theta.cos().mean(-1), theta.sin().mean(-1)).abs()


@checker(points=1, target="critical_coupling", time_limit=90)
def check_critical_coupling(ask, seed):
    """The final order parameter of each run of the all-to-all model, and the first K whose r exceeds 1/2."""
    g = torch.Generator().manual_seed(seed)
    dt, steps = 0.1, 300
    for M, L in ((200, 9), (150, 11)):
        while True:  # a case whose r stays clear of the threshold, so that K_c is not a coin toss
            sigma = 0.8 + 0.4 * torch.rand((), generator=g).item()
            w = sigma * torch.randn(M, generator=g, dtype=DT)
            Ks = torch.linspace(0, 4, L, dtype=DT)
            theta0 = 2 * math.pi * torch.rand(L, M, generator=g, dtype=DT)
            r = _sync(w, Ks, theta0, dt, steps)
            if (r - 0.5).abs().min() > 0.03 and r.max() > 0.5:
                break
        case = f"{M} oscillators with frequencies of spread {sigma:.2f}, {L} couplings from 0 to 4"
        got = judge.sequence(ask("answer(w.clone(), Ks.clone(), theta0.clone(), dt, steps)", case=case, w=w, Ks=Ks,
                                 theta0=theta0, dt=dt, steps=steps), "critical_coupling's result (r, K_c)", 2)
        values = judge.array(got[0], "the final order parameters r")
        if values.shape == tuple(r.shape) and values.max() < 0.5 and r[-1] > 0.8 and not np.allclose(
                values, _sync(w, Ks, theta0, dt, steps, sign=-1.0).numpy(), atol=1e-3):
            raise GradingError(f"for {case}: no coupling locks your oscillators (r at most {values.max():.2f}; expected "
                               f"{judge.show(r)}): check the coupling term (K/M) Σ_j sin(θ_j - θ_i); with K instead of "
                               "K/M, for instance, the Euler steps are far too large for the coupling and the phases "
                               "scatter")
        judge.close(values, r.numpy(), "the final order parameters r", rtol=1e-4, atol=1e-3, case=case, hints=[
            (_sync(w, Ks, theta0, dt, steps, per=False), "the coupling is K, not K/M: divide the sum over j by M"),
            (_sync(w, Ks, theta0, dt, steps, sign=-1.0), "the sine is sin(θ_i - θ_j): the coupling then pushes "
             "oscillators apart; use sin(θ_j - θ_i)"),
            (_sync(w, Ks, theta0, dt, steps, drift=False), "the natural frequencies w_i are missing"),
            (_sync(w, Ks, theta0, dt, steps - 1), "one Euler step too few"),
            (_sync(w, Ks, theta0, dt, steps + 1), "one Euler step too many")])
        k = int(torch.nonzero(r > 0.5)[0])
        index = judge.number(got[1], "K_c")
        if index == k and Ks[k] != k:
            raise GradingError(f"for {case} K_c is {index:g}, the index of the coupling; return the coupling itself, "
                               f"Ks[{k}] = {Ks[k]:.4g}")
        judge.close_number(index, Ks[k].item(), "K_c, the smallest coupling whose final r exceeds 1/2", rtol=1e-6,
                           atol=1e-9, case=case, hints=[
                               (Ks[k - 1].item(), "that is the last coupling below the threshold; K_c is the first "
                                "whose r exceeds 1/2"),
                               (Ks[int(torch.argmin((r - 0.5).abs()))].item(), "that is the coupling whose r is "
                                "closest to 1/2; K_c is the first whose r exceeds 1/2")])


def _ari(true, pred, trivial=False):
    """FG-ARI per image, float64, with ARI = 1 when both groupings are trivial (numerator and denominator 0);
    with ``trivial``, whether each image is such a case."""
    out = []
    for t, p in zip(true.numpy(), pred.numpy()):
        fg = t != 0
        t, p = t[fg], p[fg]
        _, ti = np.unique(t, return_inverse=True)
        _, pi = np.unique(p, return_inverse=True)
        table = np.zeros((ti.max() + 1, pi.max() + 1))
        np.add.at(table, (ti, pi), 1)
        comb = lambda v: v * (v - 1) / 2  # noqa: E731
        index, a, b = comb(table).sum(), comb(table.sum(1)).sum(), comb(table.sum(0)).sum()
        expected, maximum = a * b / comb(len(t)), (a + b) / 2
        out.append(maximum == expected if trivial else
                   1.0 if maximum == expected else (index - expected) / (maximum - expected))
    return np.array(out)


def _rand_index(true, pred, background=True):
    out = []
    for t, p in zip(true.numpy(), pred.numpy()):
        if background:
            t, p = t[t != 0], p[t != 0]
        same_t, same_p = t[:, None] == t[None], p[:, None] == p[None]
        out.append(((same_t == same_p).sum() - len(t)) / (len(t) * (len(t) - 1)))
    return np.array(out)


def _images(g, B=3, P=40):
    """True label maps [B, P] with background 0 and 1 to 4 objects (each image at least 2 foreground pixels)."""
    true = torch.zeros(B, P, dtype=torch.long)
    for b in range(B):
        k = int(torch.randint(1, 5, (), generator=g))
        labels = torch.randint(0, k + 1, (P,), generator=g)
        labels[:2] = torch.tensor([1, k])
        true[b] = labels[torch.randperm(P, generator=g)]
    return true


@checker(points=2, target="fg_ari", forbid=["dyngeo.metrics.segmentation.fg_ari",
                                            "dyngeo.metrics.segmentation._contingency",
                                            "sklearn.metrics.adjusted_rand_score",
                                            "sklearn.metrics.cluster._supervised.adjusted_rand_score"])
def check_fg_ari(ask, seed):
    """ARI between true and predicted labels on foreground pixels (true label != 0), per image."""
    g = torch.Generator().manual_seed(seed)
    true = _images(g)
    rename = torch.randperm(10, generator=g)
    noisy = true.clone()
    flip = torch.rand(true.shape, generator=g) < 0.3
    noisy[flip] = torch.randint(0, 5, (int(flip.sum()),), generator=g)
    merged = torch.where(true == 2, 1, true)
    background = torch.where(true == 0, torch.randint(0, 6, true.shape, generator=g), rename[true])
    single = torch.tensor([[0, 0, 3, 3, 3, 0, 3, 3], [0, 2, 2, 2, 2, 2, 0, 0], [1, 1, 1, 1, 0, 1, 1, 1]])
    cases = [("a renamed perfect prediction, anything on the background", true, background),
             ("a prediction that merges objects 1 and 2", true, merged),
             ("a noisy prediction", true, noisy),
             ("single-object images predicted as one cluster, split in two and split in singletons", single,
              torch.tensor([[5, 5, 1, 1, 1, 5, 1, 1], [0, 4, 4, 7, 7, 7, 0, 0], [1, 2, 3, 4, 5, 6, 7, 8]]))]
    for what, t, p in cases:
        got = ask("answer(true.clone(), pred.clone())", case=what, true=t, pred=p)
        expected = _ari(t, p)
        trivial = _ari(t, p, trivial=True)
        if isinstance(got, (torch.Tensor, np.ndarray)) and tuple(got.shape) == expected.shape:
            values = got.detach().double().numpy() if isinstance(got, torch.Tensor) else np.asarray(got, np.float64)
            bad = [b for b in range(len(values)) if np.isnan(values[b]) and trivial[b]]
            if bad:
                raise GradingError(f"for {what}: your FG-ARI is NaN for image {bad[0]}: its foreground is a single object "
                                   "predicted as a single cluster, so the formula reads 0/0. Both groupings are then "
                                   "trivial and identical, and the ARI is 1 by convention")
        judge.close(got, expected, "the FG-ARI", rtol=1e-5, atol=1e-6, case=what, hints=[
            (_ari(t + 1, p), "the background pixels were kept: drop every pixel whose true label is 0"),
            (_rand_index(t, p), "that is the plain Rand index; the ARI subtracts its expected value and rescales"),
            (_rand_index(t + 1, p), "that is the plain Rand index over all pixels; drop the background and adjust "
             "for chance")])
