"""Checkers for the exercise set "Stable attractors (SA-nODE)" (``exercises/02-sa-node``).

Each checker draws its cases from ``seed``, has the answer called through ``ask`` and judges the
plain values that come back (see :mod:`dyngeo.grading`). The expected values are computed here;
the library's own versions of the answers are switched off while the answers run.
"""

import math

import torch

from ..models.sanode import SANODE, line_attractors
from . import GradingError, checker, judge

__all__ = [
    "check_double_well_drift",
    "check_coupling_matrix",
    "check_stability_bound",
    "check_max_growth_rate",
    "check_accuracy95",
    "check_corrupt_pixels",
]

DT = torch.float64
SANODE_PATH = "dyngeo.models.sanode"


def _drift(x, a, gamma):
    return 4 * gamma * x * (a * a - x * x)


@checker(points=1, target="double_well_drift", forbid=[f"{SANODE_PATH}.double_well_drift"])
def check_double_well_drift(ask, seed):
    """f(x) = −V'(x) = 4γx(a² − x²) for V = γ(x² − a²)², elementwise, on tensors of several shapes."""
    g = torch.Generator().manual_seed(seed)
    for shape in ((6, 5), (7,), (2, 3, 4)):
        a = 0.3 + torch.rand((), generator=g).item()
        gamma = 0.2 + 2 * torch.rand((), generator=g).item()
        x = 1.5 * torch.randn(*shape, generator=g, dtype=DT)
        case = f"x of shape {shape}, a = {a:.3f}, γ = {gamma:.3f}"
        got = ask("answer(x.clone(), a, gamma)", case=case, x=x, a=a, gamma=gamma)
        expected = _drift(x, a, gamma)
        judge.close(got, expected, "the drift", case=case, rtol=1e-6, atol=1e-9,
                    hints=[(gamma * (x**2 - a**2) ** 2, "you returned the potential V(x); the drift is −V'(x)"),
                           (-gamma * (x**2 - a**2) ** 2, "you returned −V(x); the drift is −V'(x), the derivative"),
                           (gamma * x * (a**2 - x**2), "a factor 4 is missing: d/dx (x² − a²)² = 4x(x² − a²)"),
                           (2 * gamma * x * (a**2 - x**2), "a factor 2 is missing: d/dx (x² − a²)² = 4x(x² − a²)"),
                           (4 * gamma * (a**2 - x**2), "the factor x is missing: d/dx (x² − a²)² = 4x(x² − a²)"),
                           (4 * gamma * x * (a - x**2), "a is not squared: V = γ(x² − a²)²")])


def _coupling(Phi, lam):
    return torch.linalg.solve(Phi.T, lam[:, None] * Phi.T).T


@checker(points=2, target="coupling_matrix", forbid=[f"{SANODE_PATH}.SANODE.coupling"])
def check_coupling_matrix(ask, seed):
    """A = Φ diag(λ) Φ⁻¹ for non-orthogonal Φ, with some zero eigenvalues (the planted kernel)."""
    g = torch.Generator().manual_seed(seed)
    for n in (6, 9):
        Phi = torch.eye(n, dtype=DT) + 0.4 * torch.randn(n, n, generator=g, dtype=DT)
        lam = torch.cat([torch.zeros(2, dtype=DT), -0.5 - 3 * torch.rand(n - 3, generator=g, dtype=DT),
                         torch.rand(1, generator=g, dtype=DT)])
        case = f"a random non-orthogonal {n} x {n} Φ and λ = {judge.show(lam, 3)}"
        got = ask("answer(Phi.clone(), lam.clone())", case=case, Phi=Phi, lam=lam)
        expected = _coupling(Phi, lam).numpy()  # an array: NumPy answers are fine too
        judge.close(got, expected, "A", case=case, rtol=1e-6, atol=1e-8,
                    hints=[(Phi @ torch.diag(lam) @ Phi.T, "you computed Φ Λ Φᵀ: it equals Φ Λ Φ⁻¹ only when Φ is "
                            "orthogonal, and this Φ is not"),
                           (torch.linalg.solve(Phi, torch.diag(lam) @ Phi), "you computed Φ⁻¹ Λ Φ: the eigenvectors "
                            "are the columns of Φ, so A = Φ Λ Φ⁻¹"),
                           (torch.linalg.solve(Phi.T, Phi.T * lam).T, "λ multiplies the wrong side: Λ Φᵀ scales the "
                            "rows of Φᵀ (lam[:, None] * Phi.T), so the columns of Φ with λ = 0 end up in the kernel"),
                           (torch.linalg.solve(Phi.T, lam[:, None] * Phi.T), "the final transpose is missing: solving "
                            "Φᵀ X = Λ Φᵀ gives X = Aᵀ")])


@checker(points=1, target="stability_bound", forbid=[f"{SANODE_PATH}.SANODE.stability_bound"])
def check_stability_bound(ask, seed):
    """λ < 8a²γ/β with β = 1/√N."""
    g = torch.Generator().manual_seed(seed)
    for N in (16, 49, 700 + int(torch.randint(0, 200, (), generator=g))):
        a = 0.3 + torch.rand((), generator=g).item()
        gamma = 0.1 + torch.rand((), generator=g).item()
        case = f"a = {a:.4f}, γ = {gamma:.4f}, N = {N}"
        got = ask("answer(a, gamma, N)", case=case, a=a, gamma=gamma, N=N)
        expected = 8 * a * a * gamma * math.sqrt(N)
        judge.close_number(got, expected, "the bound", case=case, rtol=1e-6, atol=1e-12,
                           hints=[(8 * a * a * gamma, "β is left out: the mode grows when −8γa² + βλ > 0, so the bound "
                                   "on λ is 8γa²/β"),
                                  (8 * a * a * gamma / math.sqrt(N), "you multiplied by β = 1/√N; divide by it (the "
                                   "condition is βλ < 8γa²)"),
                                  (4 * a * a * gamma * math.sqrt(N), "half the bound: f'(±a) = 4γ(a² − 3a²) = −8γa², "
                                   "not −4γa²"),
                                  (8 * a * gamma * math.sqrt(N), "a is not squared: f'(±a) = −8γa²"),
                                  (8 * a * a * gamma * N, "β is 1/√N, not 1/N")])


def _jacobian(A, gamma, a, beta, target):
    """diag(f'(target)) + β A, with f'(x) = 4γ(a² − 3x²)."""
    return torch.diag(4 * gamma * (a**2 - 3 * target**2)) + beta * A


def _top(J):
    return torch.linalg.eigvals(J).real.max().item()


BUILD_MODEL = ("from dyngeo.models.sanode import SANODE, line_attractors\n"
               "model = SANODE(line_attractors(K, N), seed=0)\n"
               "model.load_state_dict(state)\n")


@checker(points=2, target="max_growth_rate",
         forbid=[f"{SANODE_PATH}.SANODE.jacobian", f"{SANODE_PATH}.SANODE.jacobian_spectrum",
                 f"{SANODE_PATH}.SANODE.euler_amplification"])
def check_max_growth_rate(ask, seed):
    """Largest real part of the Jacobian's eigenvalues at attractor 0, for a given spectrum λ."""
    g = torch.Generator().manual_seed(seed)
    for K, N in ((3, 12), (2, 9)):
        model = SANODE(line_attractors(K, N), seed=int(torch.randint(0, 1000, (), generator=g)))
        with torch.no_grad():
            model.gamma_raw.add_(0.5 * torch.randn((), generator=g, dtype=DT))
            model.phi_free.add_(0.3 * torch.randn(model.phi_free.shape, generator=g, dtype=DT))  # Φ not orthogonal
        state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        with torch.no_grad():
            own, bound = model.eigenvalues().clone(), model.stability_bound().item()
            Phi, gamma = model.eigenvectors().clone(), model.gamma.item()
        a, beta, target = model.a, model.beta, model.attractors[0]
        above = own.clone()
        above[-1] = bound + 0.5 + 2 * torch.rand((), generator=g).item()
        spread = torch.cat([torch.zeros(K, dtype=DT), bound * (1 - 2 * torch.rand(N - K, generator=g, dtype=DT))])
        for lam, label in ((own, "the model's own spectrum"), (above, "one eigenvalue above the bound"),
                           (spread, "a random spectrum around the bound")):
            case = f"a SANODE with K = {K}, N = {N}, γ = {gamma:.3f} and {label}"
            got = ask(BUILD_MODEL + "result = answer(model, lam.clone())", case=case, state=state, K=K, N=N, lam=lam)
            A = _coupling(Phi, lam)
            expected = _top(_jacobian(A, gamma, a, beta, target))
            judge.close_number(got, expected, "the largest real part", case=case, rtol=1e-6, atol=1e-6, hints=[
                (_top(_jacobian(_coupling(Phi, own), gamma, a, beta, target)), "you used the model's own eigenvalues; "
                 "replace them by lam (keep only the eigenvectors)"),
                (_top(_jacobian(A, gamma, a, 1.0, target)), "β is left out: J = diag(f'(φ)) + βA with β = model.beta"),
                (_top(_jacobian(A, gamma, a, beta, 0 * target)), "f' is evaluated at 0; evaluate it at the pattern "
                 "φ = model.attractors[0]: f'(x) = 4γ(a² − 3x²)"),
                (_top(_jacobian(A, gamma, a, beta, target / math.sqrt(3))), "f'(x) = 4γ(a² − 3x²): the 3 is missing"),
                (_top(beta * A), "the drift term diag(f'(φ)) is missing from J"),
                (_top(_jacobian(Phi @ torch.diag(lam) @ Phi.T, gamma, a, beta, target)), "A = Φ Λ Φ⁻¹, not Φ Λ Φᵀ "
                 "(the eigenvectors are not orthogonal)"),
                (torch.linalg.eigvals(_jacobian(A, gamma, a, beta, target)).abs().max().item(),
                 "you took the largest modulus; take the largest real part")])


@checker(points=2, target="accuracy95",
         forbid=[f"{SANODE_PATH}.accuracy95", f"{SANODE_PATH}.sign_similarity"])
def check_accuracy95(ask, seed):
    """Eqs. (7)-(8): the share of samples whose sign overlap with the target is >= 0.95."""
    g = torch.Generator().manual_seed(seed)
    att = line_attractors(2, 40)
    x = torch.cat([att, att, att, att[:1]])
    x[2, 0] *= -1  # one flip of 40: exactly 0.95, counts
    x[3, :2] *= -1  # two flips: 0.9, does not count
    x[4] = 0.3 * x[4]  # small magnitude, right signs: counts
    x[5] = att[0]  # the other class's attractor
    x[6, :4] *= -1  # four flips: still nearest to its own attractor, but m = 0.8
    labels = torch.tensor([0, 1, 0, 1, 0, 1, 0])
    cases = [("a crafted batch of 7 samples on N = 40 pixels (4 pass)", x, att, labels)]
    for B, K, N in ((50, 3, 40), (80, 5, 60)):
        signs = torch.randint(0, 2, (K, N), generator=g).to(DT) * 2 - 1
        attractors = 0.5 * signs
        y = torch.randint(0, K, (B,), generator=g)
        flips = torch.randint(0, 5, (B,), generator=g)
        xs = attractors[y] * (0.2 + 2 * torch.rand(B, N, generator=g, dtype=DT))
        for b in range(B):
            where = torch.randperm(N, generator=g)[: int(flips[b])]
            xs[b, where] *= -1
        cases.append((f"a random batch of {B} samples, {K} classes, N = {N} pixels, 0 to 4 flipped signs per sample",
                      xs, attractors, y))
    for case, xs, attractors, y in cases:
        got = ask("answer(x_final.clone(), attractors.clone(), labels.clone())", case=case, x_final=xs,
                  attractors=attractors, labels=y)
        m = (torch.sign(xs) * torch.sign(attractors[y])).mean(dim=1)
        expected = (m >= 0.95).double().mean().item()
        agree = (torch.sign(xs) == torch.sign(attractors[y])).double().mean(dim=1)
        judge.close_number(got, expected, "the accuracy", case=case, rtol=1e-6, atol=1e-9, hints=[
            ((m > 0.95).double().mean().item(), "a sample with exactly m = 0.95 must count (the rule is >= 0.95, not >)"),
            ((agree >= 0.95).double().mean().item(), "you thresholded the fraction of agreeing pixels; m = (1/N) Σ "
             "sign·sign = 1 − 2·(wrong pixels)/N, so 2 wrong pixels of 40 give m = 0.9"),
            ((torch.cdist(xs, attractors).argmin(dim=1) == y).double().mean().item(), "you classified by the nearest "
             "attractor; the paper's rule thresholds the sign overlap m at 0.95"),
            (float((m >= 0.95).sum()), "you returned the number of samples; return the fraction"),
            (1 - expected, "you returned the fraction of samples that fail")])


@checker(points=2, target="corrupt_pixels", forbid=["dyngeo.data.letters.corrupt_pixels"])
def check_corrupt_pixels(ask, seed):
    """floor(εN) distinct pixels per row, chosen independently per row, replaced by U(0, 1) noise."""
    g = torch.Generator().manual_seed(seed)
    B = 400
    for N in (49, 30 + int(torch.randint(0, 40, (), generator=g))):
        x = -1 - torch.rand(B, N, generator=g, dtype=DT)  # any replaced pixel is visible: noise lies in [0, 1]
        k = int(torch.randint(2, N // 2, (), generator=g))
        for eps, count in ((0.0, 0), ((k + 0.6) / N, k), (1.0, N)):
            case = f"a batch of {B} rows of N = {N} pixels, eps = {eps:.4f}"
            got = ask("gen = torch.Generator().manual_seed(s)\n"
                      "torch.manual_seed(s + 1)\n"
                      "first = answer(x.clone(), eps, gen)\n"
                      "gen = torch.Generator().manual_seed(s)\n"
                      "torch.manual_seed(s + 2)\n"
                      "result = [first, answer(x.clone(), eps, gen)]",
                      case=case, x=x, eps=eps, s=seed + 7)
            first, again = judge.sequence(got, "the two results", 2)
            out = judge.tensor(first, f"corrupt_pixels's result ({case})", shape=x.shape)
            again = judge.tensor(again, f"corrupt_pixels's result ({case})", shape=x.shape)
            if not torch.equal(out, again):
                raise GradingError(f"for {case}, two calls with generators seeded alike gave different results: draw "
                                   "every random number from the generator passed in (generator=generator)")
            changed = out != x
            counts = changed.sum(dim=1)
            if not (counts == count).all():
                lo, hi = int(counts.min()), int(counts.max())
                if lo != hi:
                    raise GradingError(
                        f"for {case} the number of changed pixels varies from row to row ({lo} to {hi}); expected "
                        f"exactly floor(eps·N) = {count} distinct pixels in every row (a Bernoulli mask, or positions "
                        "drawn with replacement, give varying counts)")
                why = (": round down, floor(eps·N)" if lo == count + 1 else "")
                raise GradingError(f"for {case} every row has {lo} changed pixels; expected floor(eps·N) = {count}{why}")
            new = out[changed]
            if new.numel() and (new.min() < 0 or new.max() > 1):
                raise GradingError(f"for {case} replaced pixels range over [{new.min():.3g}, {new.max():.3g}]; they "
                                   "must be uniform noise in [0, 1] (replace the pixels, do not add noise to them)")
            if 0 < count < N:
                if (changed == changed[:1]).all():
                    raise GradingError(f"for {case} the same pixel positions are replaced in every row: draw the "
                                       "positions separately for each row (e.g. argsort of a [B, N] uniform draw)")
                frequency = changed.double().mean(dim=0)  # each pixel is chosen with probability count/N
                p = count / N
                spread = 6 * math.sqrt(p * (1 - p) / B) + 1e-9
                if (frequency - p).abs().max() > spread:
                    worst = int((frequency - p).abs().argmax())
                    raise GradingError(f"for {case} pixel {worst} is replaced in {frequency[worst]:.0%} of the rows, "
                                       f"but each pixel should be chosen with probability {count}/{N} = {p:.0%}: draw "
                                       "the positions uniformly among the N pixels")
                if len({tuple(v.tolist()) for v in new.reshape(B, count).sort(dim=1).values[:50]}) < 50:
                    raise GradingError(f"for {case} several rows got the same noise values: draw fresh noise for "
                                       "every replaced pixel")
            if count >= k and new.numel() > 200 and abs(new.mean().item() - 0.5) > 0.05:
                raise GradingError(f"for {case} the replaced pixels average {new.mean():.3f}; uniform noise in [0, 1] "
                                   "averages 0.5")
