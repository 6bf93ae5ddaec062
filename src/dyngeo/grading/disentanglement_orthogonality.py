"""Checkers for the exercise set "Disentangling with orthogonality and a graph two-sample loss"
(``exercises/14-disentanglement-orthogonality``).

The expected values come from :mod:`dyngeo.models.dae_og`, :mod:`dyngeo.metrics.two_sample` and
:mod:`dyngeo.metrics.disentanglement`, whose functions answering each exercise are switched off while
the student's code runs.
"""

import itertools
import math

import numpy as np
import torch

from ..metrics import disentanglement as dis
from ..metrics import two_sample as ts
from ..models import dae_og
from . import GradingError, checker, judge

__all__ = ["check_split_normalise", "check_orthogonality", "check_smoothed_1nn", "check_null_moments", "check_mig"]

DT = torch.float64
M = "dyngeo.models.dae_og."
T = "dyngeo.metrics.two_sample."
D = "dyngeo.metrics.disentanglement."
CHUNKS = [M + "split_chunks", M + "normalise_chunks", M + "chunk_gram", M + "orthogonality_loss"]
GRAPH = [T + "smoothed_1nn", T + "edge_marginals", T + "t_statistic", T + "graph_loss", T + "null_moments",
         T + "permutation_null", T + "pairwise_distances"]


def _codes(g, cases=((4, 3, 5), (2, 5, 2), (6, 2, 7))):
    return [(B, k, d, torch.randn(B, k * d, generator=g, dtype=DT)) for B, k, d in cases]


@checker(points=2, target="split_normalise", forbid=CHUNKS)
def check_split_normalise(ask, seed):
    """[B, k, n_out/k] chunks, each of unit length, in the order of the code."""
    g = torch.Generator().manual_seed(seed)
    for B, k, d, z in _codes(g):
        case = f"z of shape {tuple(z.shape)} cut into k = {k} chunks"
        got = ask("answer(z.clone(), k)", case=case, z=z, k=k)
        want = dae_og.normalise_chunks(z, k)
        interleaved = z.reshape(B, d, k).transpose(1, 2)
        interleaved = interleaved / interleaved.norm(dim=2, keepdim=True)
        judge.close(got, want.numpy(), "the normalised chunks", rtol=1e-7, atol=1e-10, case=case,
                    hints=[(z.reshape(B, k, d), "the chunks are not normalised: divide each by its own length"),
                           ((z / z.norm(dim=1, keepdim=True)).reshape(B, k, d),
                            "the whole code was normalised; each chunk z^i gets its own unit length"),
                           (interleaved, "the chunks are interleaved: chunk i is the contiguous block "
                                         "z[:, i*d:(i+1)*d], i.e. z.reshape(B, k, d)")])


@checker(points=2, target="orthogonality", forbid=CHUNKS)
def check_orthogonality(ask, seed):
    """‖Ẑ Ẑᵀ − I‖_F averaged over the batch, and its gradient (it must be differentiable)."""
    g = torch.Generator().manual_seed(seed)
    code = ("zz = z.clone().requires_grad_(True)\n"
            "value = answer(zz, k)\n"
            "if isinstance(value, torch.Tensor) and value.requires_grad:\n"
            "    grad, = torch.autograd.grad(value, zz)\n"
            "    result = (value.detach(), grad)\n"
            "else:\n"
            "    result = (value, None)")
    for B, k, d, z in _codes(g):
        case = f"z of shape {tuple(z.shape)}, k = {k}"
        got = judge.sequence(ask(code, case=case, z=z, k=k), "(value, gradient)", 2)
        zz = z.clone().requires_grad_(True)
        want = dae_og.orthogonality_loss(zz, k)
        (grad,) = torch.autograd.grad(want, zz)
        c = dae_og.normalise_chunks(z, k)
        G = c @ c.transpose(1, 2) - torch.eye(k, dtype=DT)
        raw = z.reshape(B, k, d)
        judge.close_number(got[0], float(want.detach()), "the loss", rtol=1e-7, atol=1e-10, case=case,
                           hints=[(float((G**2).sum((1, 2)).mean()), "this is the squared Frobenius norm; take the "
                                   "square root per image before averaging"),
                                  (float(torch.linalg.matrix_norm(G).sum()), "the norms are summed over the batch; "
                                   "average them"),
                                  (float(torch.linalg.matrix_norm(raw @ raw.transpose(1, 2) - torch.eye(k, dtype=DT))
                                         .mean()), "the chunks are not normalised before the Gram matrix"),
                                  (float(torch.linalg.matrix_norm(G + torch.eye(k, dtype=DT)).mean()),
                                   "the identity is not subtracted"),
                                  (float(torch.linalg.matrix_norm(G.mean(0))), "the Gram matrices were averaged "
                                   "before the norm; take the norm per image, then average")])
        if got[1] is None:
            raise GradingError(f"for {case} the loss carries no gradient: build it from torch operations on z "
                               "(no float(), .item(), .detach() or NumPy), so that training can differentiate it")
        judge.close(got[1], grad, "the gradient", rtol=1e-6, atol=1e-9, case=case)
    # orthogonal chunks give exactly zero
    Q, _ = torch.linalg.qr(torch.randn(6, 6, generator=g, dtype=DT))
    z = (Q[:, :3].T * torch.tensor([[2.0], [0.5], [3.0]], dtype=DT)).reshape(1, -1)
    got = judge.sequence(ask(code, case="orthogonal chunks", z=z, k=3), "(value, gradient)", 2)
    judge.close_number(got[0], 0.0, "the loss on mutually orthogonal chunks", atol=1e-8)


def _samples(g):
    out = []
    for n0, n1, d, shift, lam in [(12, 9, 2, 0.0, 0.5), (10, 14, 3, 1.5, 0.3), (8, 8, 5, 0.5, 1.0)]:
        X0 = torch.randn(n0, d, generator=g, dtype=DT)
        X1 = torch.randn(n1, d, generator=g, dtype=DT) + shift
        out.append((f"n0 = {n0}, n1 = {n1} points in {d}-D, shift {shift}, λ = {lam}", X0, X1, lam))
    return out


@checker(points=2, target="smoothed_1nn", forbid=GRAPH)
def check_smoothed_1nn(ask, seed):
    """T^λ of eq. (3) on random samples, and the hard count at a tiny λ."""
    g = torch.Generator().manual_seed(seed)
    for case, X0, X1, lam in _samples(g):
        got = ask("answer(X0.clone(), X1.clone(), lam)", case=case, X0=X0, X1=X1, lam=lam)
        X = torch.cat([X0, X1])
        N = X.shape[0]
        want = float(ts.smoothed_1nn(X0, X1, lam, eps=0))
        D = torch.cdist(X, X)
        cross = ts._cross(X0.shape[0], X1.shape[0], D)
        self_in = torch.softmax(-D / lam, 1)
        sq = torch.softmax((-D**2 / lam).masked_fill(torch.eye(N, dtype=torch.bool), -math.inf), 1)
        judge.close_number(got, want, "T^λ", rtol=1e-6, atol=1e-9, case=case,
                           hints=[(N - want, "you counted edges within a sample; count those between samples"),
                                  (float((self_in * cross).sum()), "the point itself is in the softmax's "
                                   "denominator: sum over k ≠ i only"),
                                  (float((sq * cross).sum()), "the distances are squared; eq. 3 uses ‖x_i − x_j‖"),
                                  (want / 2, "each cross edge is counted once; the sum runs over ordered pairs")])
    X0 = torch.randn(10, 3, generator=g, dtype=DT)
    got = ask("answer(X0.clone(), X0.clone(), 0.2)", case="two identical samples", X0=X0)
    judge.close_number(got, float(ts.smoothed_1nn(X0, X0, 0.2, eps=0)), "T^λ for two identical samples", rtol=1e-6,
                       atol=1e-9, case="X1 = X0, λ = 0.2: each point's nearest neighbour is its twin, so T is near N")
    case, X0, X1, _ = _samples(g)[1]
    got = ask("answer(X0.clone(), X1.clone(), 1e-4)", case="λ = 1e-4 (the hard 1-NN count)", X0=X0, X1=X1)
    judge.close_number(got, float(ts.smoothed_1nn(X0, X1, 0.0)), "T^λ at λ = 1e-4", atol=1e-5,
                       case="the hard count of cross nearest-neighbour edges")


def _mu(g, N, lam):
    return ts.edge_marginals(torch.randn(N, 2, generator=g, dtype=DT), lam, eps=0)


@checker(points=2, target="null_moments", forbid=GRAPH)
def check_null_moments(ask, seed):
    """E and Var of T under random relabelling, against the closed form and a full enumeration."""
    g = torch.Generator().manual_seed(seed)
    for N, n0, lam in [(7, 3, 0.5), (12, 5, 0.3), (30, 18, 1.0)]:
        mu = _mu(g, N, lam)
        case = f"N = {N} points, n0 = {n0}, n1 = {N - n0}"
        got = judge.sequence(ask("tuple(answer(mu.clone(), n0, n1))", case=case, mu=mu, n0=n0, n1=N - n0),
                             "(mean, variance)", 2)
        mean, var = ts.null_moments(mu, n0, N - n0)
        n1 = N - n0
        W = mu + mu.T
        p1 = 2 * n0 * n1 / (N * (N - 1))
        judge.close_number(got[0], float(mean), "the mean", rtol=1e-8, atol=1e-10, case=case,
                           hints=[(n0 * n1 / N, "E = 2 n0 n1 / (N − 1): p1 = 2 n0 n1 / (N (N − 1)) times "
                                   "Σ_{i<j} W_ij = N")])
        judge.close_number(got[1], float(var), "the variance", rtol=1e-7, atol=1e-10, case=case,
                           hints=[(float(p1 * (1 - p1) * (W.triu(1) ** 2).sum()), "this treats the edges as "
                                   "independent; two edges sharing a vertex (p2) or none (p3) are correlated"),
                                  (float(var.sqrt()), "this is the standard deviation")])
    # a tiny case by brute force, so the formula is checked against the definition
    mu = _mu(g, 6, 0.7)
    Ts = []
    for ones in itertools.combinations(range(6), 2):
        lab = torch.zeros(6, dtype=DT)
        lab[list(ones)] = 1
        Ts.append(float((mu * (lab[:, None] != lab[None, :])).sum()))
    got = judge.sequence(ask("tuple(answer(mu.clone(), 4, 2))", case="6 points, every labelling", mu=mu),
                         "(mean, variance)", 2)
    judge.close_number(got[1], float(np.var(Ts)), "the variance over all 15 labellings", rtol=1e-7, atol=1e-10)


def _mig_cases(rng):
    n = 1500
    v = np.stack([rng.integers(0, k, n) for k in (4, 3, 5)], 1)
    copy = v.copy()
    noisy = np.c_[v[:, 0], (v[:, 1] + (rng.random(n) < 0.3)) % 3, rng.integers(0, 5, n), v[:, 2]]
    Q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    rotated = dis.discretize((v - v.mean(0)) / v.std(0) @ Q, 8)
    return [("a code copying the factors", copy, v), ("a noisy code with an extra dimension", noisy, v),
            ("a rotated code (8 bins)", rotated, v)]


@checker(points=2, target="mig", forbid=[D + "mig", D + "_mig", D + "mutual_info_matrix", D + "_mi_matrix",
                                         D + "_prepare", D + "scores", D + "mig_sup", D + "dcimig", D + "jemmig"])
def check_mig(ask, seed):
    """MIG of discrete codes: 1 for a copy of the factors, less for noisy and rotated codes."""
    rng = np.random.default_rng(seed)
    for case, z, v in _mig_cases(rng):
        got = ask("answer(z.copy(), v.copy())", case=case, z=z, v=v)
        want = dis.mig(z, v, discrete=True)
        I = dis.mutual_info_matrix(z, v, discrete=True)
        H = dis.entropies(v)
        top = np.sort(I, 0)[::-1]
        topz = np.sort(I / H, 1)[:, ::-1]
        judge.close_number(got, want, "MIG", rtol=1e-6, atol=1e-9, case=case,
                           hints=[(float(np.mean(top[0] - top[1])), "the gaps are not divided by H(v_k)"),
                                  (float(np.mean(top[0] / H)), "this is the best MI over H(v_k), without "
                                   "subtracting the second best"),
                                  (float(np.mean(topz[:, 0] - topz[:, 1])), "the gap is taken per code dimension "
                                   "(that is MIG-sup); MIG takes it per factor, over code dimensions"),
                                  (float(np.mean((top[0] - top[1]) / np.log(np.array([4, 3, 5])))),
                                   "H(v_k) is log(levels); use the entropy of the factor's actual frequencies")])
