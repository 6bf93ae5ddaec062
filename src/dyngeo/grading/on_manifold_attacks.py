"""Checkers for the exercise set "Attacks that stay on the data manifold"
(``exercises/07-on-manifold-attacks``).

Each checker draws its cases from ``seed``, has the answer called through ``ask`` and judges the
plain values that come back (see :mod:`dyngeo.grading`). Expected values come from
:mod:`dyngeo.geometry.diffusion`, run here, outside the answer's kernel.
"""

import numpy as np
import torch

from ..geometry.diffusion import DiffusionMap
from . import GradingError, checker, judge

__all__ = ["check_markov_matrix", "check_laplacian_spectrum", "check_nystrom_extend",
           "check_projection_coefficients", "check_tangent_projector", "check_on_manifold_step"]

DM = "dyngeo.geometry.diffusion"
NO_FIT = [f"{DM}.DiffusionMap.fit", f"{DM}.DiffusionMap.markov_row", f"{DM}.diffusion_map"]


def _kernel(X, eps, alpha, Y=None):
    """P(y, x_j) of eq. (onm-kernel) with α-normalised degrees of the samples X (NumPy, float64)."""
    Y = X if Y is None else Y
    K = np.exp(-((Y[:, None] - X[None]) ** 2).sum(-1) / eps**2)
    q = np.exp(-((X[:, None] - X[None]) ** 2).sum(-1) / eps**2).sum(1)
    qy = K.sum(1)
    Ka = K / np.outer(qy**alpha, q**alpha)
    return Ka / Ka.sum(1, keepdims=True), Ka


def _points(rng, n, kind):
    if kind == "rectangle":
        return rng.uniform(size=(n, 2)) * [2.0, 1.0]
    if kind == "3-D cloud":
        return rng.standard_normal((n, 3))
    if kind == "uniform circle":
        th = np.linspace(0, 2 * np.pi, n, endpoint=False)
    else:  # a circle sampled with a non-uniform density
        th = np.mod(rng.normal(0, 2.0, n), 2 * np.pi)
    return np.c_[np.cos(th), np.sin(th)]


@checker(points=2, target="markov_matrix", forbid=NO_FIT)
def check_markov_matrix(ask, seed):
    """The α-normalised kernel's Markov matrix on three point clouds and three values of α."""
    rng = np.random.default_rng(seed)
    for kind, alpha in (("rectangle", 0.0), ("3-D cloud", 0.5), ("non-uniform circle", 1.0)):
        X = _points(rng, int(rng.integers(25, 40)), kind)
        eps = float(rng.uniform(0.3, 0.6))
        case = f"{kind}, {len(X)} points, eps = {eps:.3f}, alpha = {alpha}"
        got = judge.array(ask("result = answer(X, eps, alpha)", case=case, X=X, eps=eps, alpha=alpha),
                          f"P (case: {case})", shape=(len(X), len(X)))
        want, Ka = _kernel(X, eps, alpha)
        d2 = ((X[:, None] - X[None]) ** 2).sum(-1)
        hints = [(Ka, "the rows do not sum to 1: divide K_alpha by its row sums"),
                 (_kernel(X, np.sqrt(eps), alpha)[0], "the kernel is exp(-|x-y|^2 / eps^2): eps must be squared"),
                 (np.exp(-np.sqrt(d2) / eps**2) / np.exp(-np.sqrt(d2) / eps**2).sum(1, keepdims=True),
                  "the kernel takes squared distances |x-y|^2"),
                 (Ka / np.sqrt(np.outer(Ka.sum(1), Ka.sum(1))), "this is the symmetric D^-1/2 K D^-1/2; "
                  "the Markov matrix is D^-1 K")]
        if alpha:
            hints.insert(0, (_kernel(X, eps, 0.0)[0], "alpha is ignored: divide K by q(x)^alpha q(y)^alpha first"))
        judge.close(got, want, "P", rtol=1e-6, atol=1e-10, case=case, hints=hints)


@checker(points=2, target="laplacian_spectrum", forbid=NO_FIT)
def check_laplacian_spectrum(ask, seed):
    """-4 log(λ)/ε² of the α = 1 Markov matrix, ascending; a uniform circle gives 0, 1, 1, 4, 4."""
    rng = np.random.default_rng(seed)
    for kind in ("uniform circle", "non-uniform circle"):
        X = _points(rng, int(rng.integers(150, 200)), kind)
        eps = float(rng.uniform(0.2, 0.3))
        n = 7
        case = f"{kind}, {len(X)} points, eps = {eps:.3f}"
        got = judge.array(ask("result = answer(X, eps, n)", case=case, X=X, eps=eps, n=n),
                          f"the eigenvalues (case: {case})", shape=(n,))
        ref = DiffusionMap(n, eps=eps, alpha=1.0, method="dm").fit(X)
        want, lam = ref.laplacian, ref.eigenvalues
        lam0 = DiffusionMap(n, eps=eps, alpha=0.0, method="dm").fit(X)
        judge.close(got, want, "the eigenvalue estimates", rtol=1e-6, atol=1e-8, case=case, hints=[
            (lam, "these are the eigenvalues of P; return -4 log(lambda) / eps^2"),
            (want[::-1], "sort them in ascending order (the first is 0)"),
            (1 - lam, "1 - lambda must be scaled: -4 log(lambda) / eps^2"),
            (4 * (1 - lam) / eps**2, "use -4 log(lambda) / eps^2, not the first-order 4 (1 - lambda) / eps^2"),
            (-np.log(lam) / eps**2, "the factor 4 is missing: P is about exp(eps^2 Delta / 4)"),
            (lam0.laplacian, "alpha is 0 here: normalise by q(x) q(y) (alpha = 1)")])
        if kind == "uniform circle" and np.max(np.abs(got[1:] / [1, 1, 4, 4, 9, 9] - 1)) > 0.1:
            raise GradingError(f"on the {case} the estimates {np.round(got, 3)} should be close to 0, 1, 1, 4, 4, 9, 9")


@checker(points=2, target="nystrom_extend",
         forbid=[f"{DM}.DiffusionMap.extend", f"{DM}.DiffusionMap.markov_row", f"{DM}.DiffusionMap.extend_function"])
def check_nystrom_extend(ask, seed):
    """Eq. (2) with the α = 1 kernel: the eigenvectors at the samples, the reference elsewhere."""
    rng = np.random.default_rng(seed)
    X = _points(rng, int(rng.integers(60, 90)), "rectangle")
    eps = float(rng.uniform(0.3, 0.5))
    ref = DiffusionMap(6, eps=eps, alpha=1.0, method="dm").fit(X)
    phi, lam = ref.phi, ref.eigenvalues
    Ynew = rng.uniform(size=(15, 2)) * [2.0, 1.0] + rng.normal(0, 0.1, (15, 2))
    for Y, case in ((X, "at the samples themselves"), (Ynew, "at 15 new points")):
        case = f"{len(X)} points of a rectangle, eps = {eps:.3f}, {case}"
        got = judge.array(ask("result = answer(X, phi, lam, Y, eps)", case=case, X=X, phi=phi, lam=lam, Y=Y, eps=eps),
                          f"the extension (case: {case})", shape=(len(Y), 6))
        want = ref.extend(torch.tensor(Y)).numpy()
        P0 = _kernel(X, eps, 0.0, Y)[0]
        Pq = _kernel(X, eps, 1.0, Y)[1] * _kernel(X, eps, 0.0, Y)[1].sum(1, keepdims=True)  # K(y, x_j) / q(x_j)
        judge.close(got, want, "the extension", rtol=1e-6, atol=1e-9, case=case, hints=[
            (want * lam, "divide by lambda (eq. 2)"),
            (P0 @ phi / lam, "the row must be alpha-normalised: divide K(y, x_j) by q(x_j) (q(y) cancels)"),
            (Pq @ phi / lam, "normalise the row of the kernel to sum 1 (the Markov matrix P)")])


@checker(points=1, target="projection_coefficients", forbid=[f"{DM}.DiffusionMap.function_coefficients"])
def check_projection_coefficients(ask, seed):
    """x̂ = Φᵀ D X, the D-weighted coefficients; with every eigenvector they reproduce X."""
    rng = np.random.default_rng(seed)
    for n_comp, case in ((6, "6 eigenvectors"), (None, "all eigenvectors")):
        X = _points(rng, 40, "3-D cloud")
        ref = DiffusionMap(n_comp or len(X), eps=1.5, alpha=1.0, method="dm").fit(X)
        phi, D = ref.phi, ref.degrees
        case = f"40 points in R^3, {case}"
        got = judge.array(ask("result = answer(phi, D, X)", case=case, phi=phi, D=D, X=X),
                          f"the coefficients (case: {case})", shape=(phi.shape[1], 3))
        want = phi.T @ (D[:, None] * X)
        judge.close(got, want, "the coefficients", rtol=1e-6, atol=1e-9, case=case, hints=[
            (phi.T @ X, "the eigenvectors are orthonormal for the weights D: use phi^T D X, not phi^T X"),
            (phi.T @ (D[:, None] ** 2 * X), "D appears once: phi^T D X"),
            (np.linalg.lstsq(phi, X, rcond=None)[0], "the least-squares fit equals phi^T D X only with every "
                                                     "eigenvector; use phi^T D X")])
        if n_comp is None and not np.allclose(phi @ got, X, atol=1e-6):
            raise GradingError(f"with every eigenvector, phi @ coefficients should give X back ({case})")


@checker(points=2, target="tangent_projector", forbid=[f"{DM}.tangent_from_jacobian", "dyngeo.geometry.tangent.projector",
                                                      f"{DM}.DiffusionMap.tangent", f"{DM}.DiffusionMap.tangents"])
def check_tangent_projector(ask, seed):
    """U_d U_dᵀ from the top d left singular vectors of a Jacobian; on a circle, I - x xᵀ."""
    g = torch.Generator().manual_seed(seed)
    for D, d in ((5, 2), (6, 3)):
        A, _ = torch.linalg.qr(torch.randn(D, D, generator=g, dtype=torch.float64))
        B, _ = torch.linalg.qr(torch.randn(D, D, generator=g, dtype=torch.float64))
        s = torch.cat([1 + torch.rand(d, generator=g, dtype=torch.float64),
                       0.01 * torch.rand(D - d, generator=g, dtype=torch.float64).sort(descending=True).values])
        J = A @ torch.diag(s) @ B.T
        case = f"a {D}x{D} Jacobian with {d} large singular values"
        got = torch.tensor(judge.array(ask("result = answer(J, d)", case=case, J=J, d=d),
                                       f"the projector (case: {case})", shape=(D, D)))
        want = A[:, :d] @ A[:, :d].T
        judge.close(got, want, "the projector", rtol=1e-6, atol=1e-9, case=case, hints=[
            (B[:, :d] @ B[:, :d].T, "these are the right singular vectors (V); the tangent space is spanned by "
                                    "the left ones (U), the directions the projection's output moves in"),
            (A[:, :d].T @ A[:, :d], "Q^T Q is the identity of R^d; the projector is Q Q^T"),
            (A[:, : d + 1] @ A[:, : d + 1].T, "keep exactly d directions"),
            (A[:, : d - 1] @ A[:, : d - 1].T, "keep exactly d directions")])
        if not torch.allclose(got @ got, got, atol=1e-8) or abs(torch.trace(got).item() - d) > 1e-6:
            raise GradingError(f"the projector for {case} must be idempotent with trace {d}")
    # a circle: the Jacobian of a CIDM projection at a point between samples of an evenly sampled circle
    rng = np.random.default_rng(seed)
    th = np.linspace(0, 2 * np.pi, 300, endpoint=False) + rng.uniform(0, 1)
    X = np.c_[np.cos(th), np.sin(th)]
    a = float(th[int(rng.integers(300))] + rng.uniform(0, 2 * np.pi / 300))
    x = np.array([np.cos(a), np.sin(a)])
    J = DiffusionMap(20, k=10, method="cidm").fit(X).jacobian(torch.tensor(x))
    case = f"the Jacobian of a CIDM projection at angle {a:.2f} of the unit circle"
    got = torch.tensor(judge.array(ask("result = answer(J, 1)", case=case, J=J), f"the projector (case: {case})",
                                   shape=(2, 2)))
    closed = torch.eye(2, dtype=torch.float64) - torch.tensor(np.outer(x, x))
    U = torch.linalg.svd(J).U[:, :1]
    judge.close(got, U @ U.T, "the projector", rtol=1e-6, atol=1e-9, case=case)
    if (got - closed).abs().max() > 0.02:
        raise GradingError(f"for {case} the projector should be close to I - x x^T = {closed.numpy().round(3).tolist()}; "
                           f"got {got.numpy().round(3).tolist()}")


STEP_CODE = """
from dyngeo.geometry.diffusion import DiffusionMap
if "dm" not in store:
    store["dm"] = DiffusionMap(20, k=10, eps=2.0, method="cidm").fit(X)
result = answer(x, grad, Q, store["dm"].project, a)
"""


@checker(points=2, target="on_manifold_step", forbid=[f"{DM}.on_manifold_pgd"])
def check_on_manifold_step(ask, seed):
    """One step of eq. (onm-pgd) on a noisy circle: the reference value, and still on the circle."""
    rng = np.random.default_rng(seed)
    th = rng.uniform(0, 2 * np.pi, 500)
    X = np.c_[np.cos(th), np.sin(th)] * (1 + 0.01 * rng.standard_normal(500))[:, None]
    dm = DiffusionMap(20, k=10, eps=2.0, method="cidm").fit(X)
    for i in range(3):
        t0 = float(rng.uniform(0, 2 * np.pi))
        x = dm.project(torch.tensor([[np.cos(t0), np.sin(t0)]]), n_iter=2)
        Q = dm.tangents(x, 1)
        grad = torch.tensor(rng.standard_normal((1, 2)))
        a = float(rng.uniform(0.05, 0.2))
        case = f"a point of a noisy circle at angle {t0:.2f}, step {a:.3f}"
        got = torch.tensor(judge.array(ask(STEP_CODE, case=case, X=X, x=x, grad=grad, Q=Q, a=a),
                                       f"the new point (case: {case})", shape=(1, 2)))
        pg = torch.einsum("bdk,bk->bd", Q, torch.einsum("bdk,bd->bk", Q, grad))
        want = dm.project(x + a * pg / pg.norm(dim=1, keepdim=True))
        judge.close(got, want, "the new point", rtol=1e-6, atol=1e-9, case=case, hints=[
            (dm.project(x + a * grad / grad.norm()), "the gradient must first be projected onto the tangent "
                                                      "space: Q Q^T grad"),
            (dm.project(x + a * pg), "normalise the projected gradient to length 1 before the step a"),
            (x + a * pg / pg.norm(), "map the stepped point back with project (the Nyström projection)"),
            (dm.project(x - a * pg / pg.norm()), "the attack ascends the loss: step along +grad")])
        if abs(got.norm().item() - 1) > 0.05:
            raise GradingError(f"after the step ({case}) the point should stay within 0.05 of the circle; "
                               f"its radius is {got.norm().item():.3f}")
