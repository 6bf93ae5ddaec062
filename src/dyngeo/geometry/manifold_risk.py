"""The manifold decomposition of adversarial risk (Zhang, Zhang, Hu, Yao, Goswami, Chen & Metaxas 2024).

For data on a manifold M ⊂ R^D with labels y ∈ {−1, 1} and a signed score s (error iff y s(x) ≤ 0),
Theorem 1 bounds the adversarial risk in an L2 ball of radius ε (Def. 1) by

    R_adv(ε) ≤ R_std + R_nor(ε) + R_in(2ε) + NNR(ε)                                    (eq. 1)

with R_in the risk of perturbations that stay on M (Def. 2), R_nor that of perturbations along the
normal space N_xM (Def. 3) and NNR the nearby-normal risk of Def. 4 (events A ∧ B ∧ C). Here each term
is computed per point and *exactly up to a grid* for manifolds of codimension one given in closed form
(:class:`Circle`, :class:`Plane`, :class:`Segment`): ball grids for Def. 1, a line grid along the unit
normal for Def. 3, a grid of manifold neighbours for Def. 2. :func:`tightness_score` builds the
classifiers f_n of Theorem 2, for which every term but NNR vanishes while R_adv = 1.

For learned manifolds (an autoencoder's decoder), :func:`decoder_tangent` gives an orthonormal tangent
basis from the decoder's Jacobian by QR, and :func:`tangent_part` / :func:`normal_part` /
:func:`normal_direction` split vectors without ever forming a D×D projector; the tangent and normal
attacks are :func:`dyngeo.attacks.gradient.pgd` with ``direction=``.
"""

import math

import torch

from ..attacks.gradient import _restrict

__all__ = ["Circle", "Plane", "Segment", "signed_score", "ball_grid", "standard_risk", "adversarial_risk",
           "normal_risk", "in_manifold_risk", "nearby_normal_risk", "decomposition", "summary",
           "linear_adversarial_risk", "tightness_lengths", "tightness_score", "decoder_tangent", "tangent_part",
           "normal_part", "normal_direction"]


# ------------------------------------------------------------------------------------------ manifolds


def _disk(n, dtype, device):
    """Offsets of the closed unit disk: an n×n square grid masked to the disk plus 2n points on the unit
    circle."""
    t = torch.linspace(-1, 1, n, dtype=dtype, device=device)
    g = torch.cartesian_prod(t, t)
    g = g[g.norm(dim=1) <= 1]
    a = torch.linspace(0, 2 * math.pi, 2 * n + 1, dtype=dtype, device=device)[:-1]
    return torch.cat([g, torch.stack([a.cos(), a.sin()], 1)])


class Circle:
    """The unit circle in R² (Sec. 3.1, 2-D data; tubular radius Δ = 1)."""

    dim, intrinsic = 2, 1

    @staticmethod
    def point(theta):
        theta = torch.as_tensor(theta)
        return torch.stack([theta.cos(), theta.sin()], -1)

    @staticmethod
    def normal(X):
        """Unit normal: the radial direction x / ‖x‖."""
        return X / X.norm(dim=-1, keepdim=True)

    @staticmethod
    def tangent(X):
        """Unit tangent (−x2, x1) / ‖x‖."""
        return torch.stack([-X[..., 1], X[..., 0]], -1) / X.norm(dim=-1, keepdim=True)

    @staticmethod
    def project(Z):
        """Nearest point of the circle, z / ‖z‖."""
        return Z / Z.norm(dim=-1, keepdim=True)

    @staticmethod
    def neighbours(X, r, n=65):
        """[B, n, 2] points of the circle within chord distance ``r`` of the points ``X`` of the circle
        (the arc of half-angle 2 arcsin(r / 2), endpoints included: B^in_r of Def. 2)."""
        half = 2 * math.asin(min(r / 2, 1.0))
        theta = torch.atan2(X[:, 1], X[:, 0])
        phi = theta[:, None] + torch.linspace(-half, half, n, dtype=X.dtype, device=X.device)
        return Circle.point(phi)


class Plane:
    """The plane x_D = 0 in R^D (D = 3 in Sec. 3.1, 3-D data; Δ = ∞)."""

    intrinsic = 2

    def __init__(self, dim=3):
        self.dim = dim

    def normal(self, X):
        e = torch.zeros_like(X)
        e[..., -1] = 1
        return e

    def project(self, Z):
        Z = Z.clone()
        Z[..., -1] = 0
        return Z

    def neighbours(self, X, r, n=21):
        """[B, K, D] points of the plane within ``r`` of ``X`` (a disk grid in the first two coordinates)."""
        disk = _disk(n, X.dtype, X.device) * r
        off = torch.zeros(disk.shape[0], X.shape[1], dtype=X.dtype, device=X.device)
        off[:, :2] = disk
        return self.project(X)[:, None, :] + off


class Segment:
    """M = [0, 1] × {0} in R², the manifold of Theorem 2's construction."""

    dim, intrinsic = 2, 1

    @staticmethod
    def normal(X):
        e = torch.zeros_like(X)
        e[..., 1] = 1
        return e

    @staticmethod
    def project(Z):
        return torch.stack([Z[..., 0].clamp(0, 1), torch.zeros_like(Z[..., 0])], -1)

    @staticmethod
    def neighbours(X, r, n=65):
        s = (X[:, :1] + r * torch.linspace(-1, 1, n, dtype=X.dtype, device=X.device)).clamp(0, 1)
        return torch.stack([s, torch.zeros_like(s)], -1)


# ------------------------------------------------------------------------------------------ the terms


def signed_score(model):
    """The signed score s = logit₁ − logit₀ of a two-class model (label +1 ↔ class 1)."""
    def s(x):
        out = model(x)
        if out.dim() != 2 or out.shape[1] != 2:
            raise ValueError(f"signed_score needs a two-class model with logits [B, 2]; got {tuple(out.shape)}")
        return out[:, 1] - out[:, 0]
    return s


def _check(X, y):
    if X.dim() != 2 or y.shape != (X.shape[0],):
        raise ValueError(f"X must be [B, D] and y [B] (labels ±1); got {tuple(X.shape)} and {tuple(y.shape)}")
    if not bool(((y == 1) | (y == -1)).all()):
        raise ValueError("labels y must be -1 or +1")


@torch.no_grad()
def _errs(score, P, y, chunk=1 << 18):
    """y · s(P) ≤ 0 for points P [B, K, D] with labels y [B]: [B, K] bool, in chunks."""
    B, K, D = P.shape
    flat = P.reshape(-1, D)
    s = torch.cat([score(flat[i:i + chunk]).reshape(-1) for i in range(0, flat.shape[0], chunk)])
    return (y[:, None].to(s.dtype) * s.reshape(B, K)) <= 0


def ball_grid(n=31, dim=2, dtype=torch.float64, device=None):
    """Offsets covering the closed unit L2 ball of R^dim: a grid of n points a side masked to the ball,
    plus (in 2-D) 2n points on its boundary circle."""
    if dim == 2:
        return _disk(n, dtype, device)
    t = torch.linspace(-1, 1, n, dtype=dtype, device=device)
    g = torch.cartesian_prod(*[t] * dim)
    return g[g.norm(dim=1) <= 1]


def standard_risk(score, X, y):
    """Per point: y s(x) ≤ 0 (the standard risk R_std)."""
    _check(X, y)
    return _errs(score, X[:, None], y)[:, 0]


def adversarial_risk(score, X, y, eps, n=31):
    """Per point: some x' with ‖x' − x‖ ≤ ε has y s(x') ≤ 0 (Def. 1), by a dense ball grid."""
    _check(X, y)
    off = ball_grid(n, X.shape[1], X.dtype, X.device) * eps
    return _errs(score, X[:, None, :] + off, y).any(1)


def _line(eps, n, dtype, device):
    t = torch.linspace(-eps, eps, 2 * (n // 2) + 1, dtype=dtype, device=device)
    return t[t != 0]


def normal_risk(score, X, y, eps, manifold, n=33):
    """Per point: some x + tν, 0 < |t| ≤ ε along the unit normal ν of the manifold, has y s ≤ 0 (Def. 3;
    both signs of the one-dimensional normal space are searched)."""
    _check(X, y)
    t = _line(eps, n, X.dtype, X.device)
    P = X[:, None, :] + t[None, :, None] * manifold.normal(X)[:, None, :]
    return _errs(score, P, y).any(1)


def in_manifold_risk(score, X, y, eps, manifold, n=65):
    """Per point: some x' of the manifold with ‖x' − x‖ ≤ ε has y s(x') ≤ 0 (Def. 2)."""
    _check(X, y)
    return _errs(score, manifold.neighbours(X, eps, n), y).any(1)


def nearby_normal_risk(score, X, y, eps, manifold, n_in=65, n_line=33):
    """Per point: the event A ∧ B ∧ C of Def. 4 (the nearby-normal risk NNR(ε)).

    A: no point x + tν with |t| ≤ 2ε (x included) has y s ≤ 0; B: some x' of the manifold within 2ε has
    a normal neighbour z = x' + tν, 0 < |t| ≤ ε, with s(z) s(x') ≤ 0; C: no x' of the manifold within 2ε
    has y s(x') ≤ 0.
    """
    _check(X, y)
    A = ~(normal_risk(score, X, y, 2 * eps, manifold, n_line) | standard_risk(score, X, y))
    C = ~in_manifold_risk(score, X, y, 2 * eps, manifold, n_in)
    nb = manifold.neighbours(X, 2 * eps, n_in)                        # [B, K, D]
    B_, K, D = nb.shape
    with torch.no_grad():
        s0 = score(nb.reshape(-1, D)).reshape(B_ * K)
    sign = torch.where(s0 > 0, 1, -1).to(X.dtype)                     # s(z) s(x') ≤ 0 ⇔ sign(s(x')) s(z) ≤ 0
    flip = normal_risk(score, nb.reshape(-1, D), sign, eps, manifold, n_line).reshape(B_, K)
    return A & flip.any(1) & C


def decomposition(score, X, y, eps, manifold, n_ball=31, n_line=33, n_in=65):
    """Every term of eq. (1) per point: a dict of [B] bool tensors ``adv`` (R_adv(ε)), ``std``, ``nor``
    (R_nor(ε)), ``in2`` (R_in(2ε)), ``in1`` (R_in(ε)), ``nnr`` (NNR(ε)) for the points ``X`` of ``manifold``."""
    return {"adv": adversarial_risk(score, X, y, eps, n_ball), "std": standard_risk(score, X, y),
            "nor": normal_risk(score, X, y, eps, manifold, n_line),
            "in2": in_manifold_risk(score, X, y, 2 * eps, manifold, n_in),
            "in1": in_manifold_risk(score, X, y, eps, manifold, n_in),
            "nnr": nearby_normal_risk(score, X, y, eps, manifold, n_in, n_line)}


def summary(terms):
    """The risks (means over the points) of a :func:`decomposition`, with ``rhs`` = std + nor + in2 + nnr,
    ``rhs_no_nnr`` (the sum the paper's Table 3 reports) and ``holds`` (adv ≤ rhs)."""
    r = {k: v.double().mean().item() for k, v in terms.items()}
    r["rhs_no_nnr"] = r["std"] + r["nor"] + r["in2"]
    r["rhs"] = r["rhs_no_nnr"] + r["nnr"]
    r["holds"] = r["adv"] <= r["rhs"] + 1e-12
    return r


def linear_adversarial_risk(w, b, X, y, eps):
    """Closed form of Def. 1 for s(x) = w·x + b: a point is at risk iff its margin y s(x) / ‖w‖ is below
    ε (at most ε for the closed ball)."""
    w = torch.as_tensor(w, dtype=X.dtype, device=X.device)
    return y.to(X.dtype) * (X @ w + b) <= eps * w.norm()


# ------------------------------------------------------------------------------------- Theorem 2


def tightness_lengths(n):
    """ℓ1 = (n − 1) / (n (n + 1)) and ℓ2 = 1 / n² of Theorem 2's partition A0 B1 A1 … Bn An of [0, 1]."""
    if n < 1:
        raise ValueError(f"n must be >= 1; got {n}")
    return (n - 1) / (n * (n + 1)), 1 / n**2


def tightness_score(n, eps, ramp=1e-4):
    """The signed score s(x1, t) = g_n(x1) − |t| of Theorem 2 (label +1 on M = [0, 1] × {0}).

    g_n = 1 on the intervals A_i (length ℓ1), ε/2 on the B_i (length ℓ2), so the decision boundary is
    the graph of ±g_n; the jumps are replaced by linear ramps of width ``ramp`` inside the A_i so that
    s is continuous. x1 outside [0, 1] is clamped.
    """
    if not 0 < eps < 0.5:
        raise ValueError(f"Theorem 2 needs 0 < eps < 1/2; got {eps}")
    l1, l2 = tightness_lengths(n)
    if 2 * ramp >= l1 > 0:
        raise ValueError(f"ramp {ramp} too wide for intervals A of length {l1}")
    starts = torch.tensor([(i + 1) * l1 + i * l2 for i in range(n)], dtype=torch.float64)  # B_i = [start, start+l2]

    def s(X):
        x = X[:, 0].clamp(0, 1)
        st = starts.to(X.device, X.dtype)
        dist = torch.maximum(st[None] - x[:, None], x[:, None] - st[None] - l2).clamp_min(0).amin(1)  # to the nearest B
        g = eps / 2 + (1 - eps / 2) * (dist / ramp).clamp(max=1)
        return g - X[:, 1].abs()
    return s


# ------------------------------------------------------------------------------ learned manifolds


def decoder_tangent(decoder, z):
    """Orthonormal bases [B, D, d] of the tangent spaces of the decoder's image at the codes z [B, d]:
    the reduced QR factor of the Jacobian ∂decoder/∂z (one [D, d] Jacobian per code, by vmap)."""
    if z.dim() != 2:
        raise ValueError(f"z must be [B, d]; got {tuple(z.shape)}")
    J = torch.func.vmap(torch.func.jacrev(lambda v: decoder(v[None]).reshape(-1)))(z.detach())
    if J.shape[1] < J.shape[2]:
        raise ValueError(f"the decoder maps d = {J.shape[2]} to D = {J.shape[1]} < d: no tangent space")
    Q, _ = torch.linalg.qr(J)
    return Q


def tangent_part(v, Q):
    """Q Qᵀ v per row for v [B, D] and bases Q [B, D, d] (or [D, d]), without forming Q Qᵀ: the
    restriction PGD applies to its steps (:func:`dyngeo.attacks.gradient.pgd` with ``direction=Q``)."""
    return _restrict(v, Q)


def normal_part(v, Q):
    """v − Q Qᵀ v per row: the component of v in the normal space."""
    return v - tangent_part(v, Q)


def normal_direction(Q):
    """A ``direction=`` callable for :func:`dyngeo.attacks.gradient.pgd` restricting steps to the normal
    spaces of the bases Q [B, D, d] (inputs of any shape [B, ...])."""
    return lambda g: normal_part(g.flatten(1), Q).reshape(g.shape)
