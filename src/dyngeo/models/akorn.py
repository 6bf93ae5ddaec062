"""Artificial Kuramoto oscillatory neurons (AKOrN), Miyato, Löwe, Geiger & Welling, ICLR 2025.

Equation numbers refer to the paper. Tensor convention: oscillator states ``x`` and stimuli ``c``
are ``[B, C, *S]`` with the channel count ``C`` divisible by the oscillator dimension ``n``:
channels ``k*n ... k*n+n-1`` form oscillator ``k`` at every position of ``S`` (no positions for a
fully connected layer, ``(L,)`` tokens, ``(H, W)`` pixels). A connectivity ``J`` is any callable
mapping ``x`` to ``sum_j J_ij x_j`` in the shape of ``x``; the fully connected, convolutional and
attentive layers below all plug into the same :func:`kuramoto_step`.
"""

import math

import torch
from torch import nn
from torch.nn import functional as F

from ..rng import draw

# ----------------------------------------------------------------------------- oscillator algebra


def group(x, n):
    """``[B, C, *S] -> [B, C/n, n, *S]``: split the channels into oscillators of dimension ``n``."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"expected a torch.Tensor; got {type(x).__name__}")
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"the oscillator dimension n must be a positive int; got {n!r}")
    if x.dim() < 2:
        raise ValueError(f"expected a tensor [B, C, ...] with a channel axis; got shape {tuple(x.shape)}")
    if x.shape[1] % n:
        raise ValueError(f"the channel count {x.shape[1]} is not divisible by the oscillator dimension n={n}")
    return x.unflatten(1, (-1, n))


def normalize(x, n, eps=1e-12):
    """The operator Pi of eq. (5): scale every oscillator to unit norm."""
    xg = group(x, n)
    # sum of squares rather than .norm: much faster on CPU for a short, strided vector axis
    return (xg * (xg * xg).sum(2, keepdim=True).clamp_min(eps * eps).rsqrt()).flatten(1, 2)


def random_oscillators(shape, n, generator=None, device=None, dtype=None):
    """Oscillators drawn uniformly on the sphere S^{n-1} (normalised Gaussians), shape ``shape``
    (a seeded ``generator`` gives the same oscillators on every device, see :func:`dyngeo.rng.draw`)."""
    return normalize(draw(torch.randn, shape, generator, device, dtype), n)


def project_tangent(y, x, n):
    """Proj_x(y) = y - <y, x> x per oscillator (eq. 2): the part of ``y`` tangent to the sphere at ``x``."""
    if y.shape != x.shape:
        raise ValueError(f"y has shape {tuple(y.shape)} but x has shape {tuple(x.shape)}")
    yg, xg = group(y, n), group(x, n)
    return (yg - (yg * xg).sum(2, keepdim=True) * xg).flatten(1, 2)


def apply_omega(omega, x, n):
    """The natural-frequency term Omega_i x_i of eq. (2).

    ``omega`` is a callable returning Omega x in the shape of ``x`` (e.g. :class:`SkewOmega`), or an
    antisymmetric matrix ``[n, n]`` shared by every oscillator, or ``[C/n, n, n]`` (one per channel).
    """
    if callable(omega):
        out = omega(x)
        if out.shape != x.shape:
            raise ValueError(f"omega(x) has shape {tuple(out.shape)}; expected {tuple(x.shape)}")
        return out
    if not isinstance(omega, torch.Tensor) or omega.shape[-2:] != (n, n) or omega.dim() not in (2, 3):
        raise ValueError(f"omega must be a callable or an antisymmetric [n, n] or [C/n, n, n] tensor with n={n}")
    if not torch.allclose(omega, -omega.transpose(-1, -2), atol=1e-6):
        raise ValueError("omega must be antisymmetric (Omega^T = -Omega) so that it only rotates")
    return _rotate(omega, x, n)


def _rotate(omega, x, n):
    """Omega x for an antisymmetric ``[n, n]`` or ``[C/n, n, n]`` tensor (no checks: hot path)."""
    xg = group(x, n).movedim(2, -1)  # [B, C/n, *S, n]
    if omega.dim() == 3:
        if omega.shape[0] != xg.shape[1]:
            raise ValueError(f"omega has {omega.shape[0]} matrices but x has {xg.shape[1]} oscillators per position")
        mats = omega.view(omega.shape[0], *([1] * (xg.dim() - 3)), n, n)
        out = (mats.to(x) @ xg.unsqueeze(-1)).squeeze(-1)
    else:
        out = xg @ omega.to(x).T
    return out.movedim(-1, 2).flatten(1, 2)


def _check_pair(x, c):
    if c is not None and c.shape != x.shape:
        raise ValueError(f"the stimulus c has shape {tuple(c.shape)} but x has shape {tuple(x.shape)}")
    if c is not None and c.device != x.device:
        raise ValueError(f"c is on {c.device} but x is on {x.device}")


def kuramoto_rhs(x, c, J, omega, n, project=True):
    """Right-hand side of the vector Kuramoto model, eq. (2) (also Delta x of eq. 4):
    Omega x + Proj_x(c + J x). ``c`` may be ``None`` (no stimulus)."""
    _check_pair(x, c)
    y = J(x)
    if y.shape != x.shape:
        raise ValueError(f"J(x) has shape {tuple(y.shape)}; expected the shape of x, {tuple(x.shape)}")
    if c is not None:
        y = y + c
    dx = project_tangent(y, x, n) if project else y
    if omega is not None:
        dx = dx + apply_omega(omega, x, n)
    return dx


def kuramoto_step(x, c, J, omega, gamma, n, project=True):
    """One Kuramoto update, eqs. (4)-(5): x <- Pi[x + gamma * (Omega x + Proj_x(c + J x))].

    ``project=False`` drops the tangent projection (the paper's ablation of Table 5).
    Returns the next state, every oscillator of unit norm.
    """
    if isinstance(gamma, (int, float)) and gamma <= 0:
        raise ValueError(f"the step size gamma must be positive; got {gamma}")
    return normalize(x + gamma * kuramoto_rhs(x, c, J, omega, n, project), n)


def released_step(x, c, J, gamma, n):
    """The update of the authors' released ``KLayer`` built without Omega (the object-discovery
    models): its Omega is ``nn.Identity``, so dx/dt gains ``+x`` and
    x <- Pi[x + gamma * (x + Proj_x(c + J x))], which is eq. (5) with step ``gamma / (1 + gamma)``."""
    if isinstance(gamma, (int, float)) and gamma <= 0:
        raise ValueError(f"the step size gamma must be positive; got {gamma}")
    return kuramoto_step(x, c, J, None, gamma / (1 + gamma), n)


def energy(x, c, J):
    """The energy of eq. (3), E = -1/2 sum_ij x_i^T J_ij x_j - sum_i c_i^T x_i, one value per sample.

    A Lyapunov function of eq. (2) when J is symmetric with J_ij = J_ij I, Omega is shared and
    Omega c = 0 (Sec. 3); for attentive J it is only a score, since J depends on x.
    """
    _check_pair(x, c)
    e = -0.5 * (x * J(x)).flatten(1).sum(1)
    if c is not None:
        e = e - (x * c).flatten(1).sum(1)
    return e


def rollout(x, c, J, omega, gamma, n, T, project=True):
    """Run ``T`` Kuramoto steps from ``x``; return the final state and the energies ``[B, T+1]``
    (eq. 3 at steps 0..T)."""
    energies = [energy(x, c, J)]
    for _ in range(T):
        x = kuramoto_step(x, c, J, omega, gamma, n, project)
        energies.append(energy(x, c, J))
    return x, torch.stack(energies, 1)


def vector_order_parameter(x, n):
    """Synchrony of unit vectors, ``[B]``: the norm of their mean over every oscillator and
    position of a sample (1 = all aligned, near 0 = spread over the sphere). For N = 2 it is
    Kuramoto's r of :func:`order_parameter`."""
    xg = group(x, n).movedim(2, -1)  # [B, C/n, *S, n]
    return xg.reshape(len(x), -1, n).mean(1).norm(dim=-1)


# ----------------------------------------------------------------------------- the classic model, eq. (1)


def phase_rhs(theta, omega, J):
    """The classic Kuramoto model, eq. (1): d theta_i/dt = omega_i + sum_j J_ij sin(theta_j - theta_i).

    ``theta`` and ``omega`` are ``[..., M]``; ``J`` is a scalar (all-to-all, J_ij = J/M) or ``[M, M]``."""
    if theta.shape[-1] != omega.shape[-1]:
        raise ValueError(f"theta has {theta.shape[-1]} oscillators but omega has {omega.shape[-1]}")
    if isinstance(J, (int, float)):
        # sum_j sin(theta_j - theta_i) = Im(e^{-i theta_i} sum_j e^{i theta_j}), O(M) instead of O(M^2)
        s, co = theta.sin(), theta.cos()
        return omega + J / theta.shape[-1] * (s.sum(-1, keepdim=True) * co - co.sum(-1, keepdim=True) * s)
    if J.shape != (theta.shape[-1], theta.shape[-1]):
        raise ValueError(f"J must be a scalar or [M, M] with M={theta.shape[-1]}; got shape {tuple(J.shape)}")
    return omega + (J * torch.sin(theta.unsqueeze(-2) - theta.unsqueeze(-1))).sum(-1)


def order_parameter(theta):
    """Kuramoto's order parameter r = |mean_j exp(i theta_j)| over the last axis (0 incoherent, 1 locked)."""
    return torch.sqrt(theta.cos().mean(-1) ** 2 + theta.sin().mean(-1) ** 2)


def phase_to_vector(theta):
    """Angles ``[B, M]`` -> unit vectors in the oscillator layout ``[B, 2M]`` (N = 2)."""
    return torch.stack([theta.cos(), theta.sin()], -1).flatten(-2)


def vector_to_phase(x):
    """Inverse of :func:`phase_to_vector`: ``[B, 2M]`` -> angles ``[B, M]``."""
    xg = group(x, 2)
    return torch.atan2(xg[:, :, 1], xg[:, :, 0])


def rotation_generator(omega):
    """Per-oscillator 2x2 antisymmetric matrices [[0, -w], [w, 0]] for frequencies ``omega`` ``[M]``."""
    z = torch.zeros_like(omega)
    return torch.stack([torch.stack([z, -omega], -1), torch.stack([omega, z], -1)], -2)


# ----------------------------------------------------------------------------- modules


class SkewOmega(nn.Module):
    """Learned natural frequencies Omega = A - A^T (antisymmetric by construction), eq. (2).

    One ``[n, n]`` matrix shared by all oscillators (``channels=None``, the case of the Lyapunov
    argument) or one per oscillator channel (``channels = C/n``)."""

    def __init__(self, n, channels=None, init=0.1):
        super().__init__()
        if n < 2:
            raise ValueError(f"rotation needs n >= 2; got n={n}")
        shape = (n, n) if channels is None else (channels, n, n)
        self.n = n
        self.A = nn.Parameter(init * torch.randn(shape) / math.sqrt(2))

    def matrix(self):
        return self.A - self.A.transpose(-1, -2)

    def forward(self, x):
        return _rotate(self.matrix(), x, self.n)


class DenseJ(nn.Module):
    """Fully connected connectivity: every oscillator coupled to every other by J_ij in R^{n x n}
    (eq. 2); ``x`` is ``[B, C]``. ``weight`` is the whole ``[C, C]`` matrix."""

    def __init__(self, channels, weight=None, init_scale=1.0):
        super().__init__()
        w = init_scale * torch.randn(channels, channels) / math.sqrt(channels) if weight is None else weight.clone()
        if w.shape != (channels, channels):
            raise ValueError(f"weight must be [{channels}, {channels}]; got {tuple(w.shape)}")
        self.weight = nn.Parameter(w)

    def forward(self, x):
        if x.dim() != 2 or x.shape[1] != self.weight.shape[0]:
            raise ValueError(f"DenseJ expects [B, {self.weight.shape[0]}]; got {tuple(x.shape)}")
        return x @ self.weight.T


class ConvJ(nn.Conv2d):
    """Convolutional connectivity, eq. (7): local coupling by a ``kernel x kernel`` filter over
    ``[B, C, H, W]`` oscillators (J_{c,d,h',w'} is an n x n block of the filter)."""

    def __init__(self, channels, kernel=3, bias=False):
        if kernel % 2 == 0:
            raise ValueError(f"use an odd kernel so the output keeps the input's size; got {kernel}")
        super().__init__(channels, channels, kernel, padding=kernel // 2, bias=bias)


class AttnJ(nn.Module):
    """Attentive connectivity, eqs. (8)-(9): J_{lm} = sum_h W^O_h A_h(l, m) W^V_h with
    A_h = softmax_m <W^Q_h x_l, W^K_h x_m> / sqrt(d). ``x`` is ``[B, C, L]`` (tokens) or
    ``[B, C, H, W]`` (pixels as tokens). ``tokens`` adds a learned per-head attention bias over the
    ``L`` positions (a simple positional encoding; the paper uses GTA)."""

    def __init__(self, channels, heads=4, tokens=None):
        super().__init__()
        if channels % heads:
            raise ValueError(f"channels={channels} must be divisible by heads={heads}")
        self.heads = heads
        self.qkv = nn.Linear(channels, 3 * channels, bias=False)
        self.out = nn.Linear(channels, channels, bias=False)
        self.pos = nn.Parameter(torch.zeros(heads, tokens, tokens)) if tokens else None

    def forward(self, x):
        h = x.flatten(2).transpose(1, 2)  # [B, L, C]
        q, k, v = self.qkv(h).unflatten(-1, (3, self.heads, -1)).permute(2, 0, 3, 1, 4)
        if self.pos is not None and self.pos.shape[-1] != q.shape[-2]:
            raise ValueError(f"AttnJ was built for {self.pos.shape[-1]} tokens; got {q.shape[-2]}")
        # the fused kernel computes softmax(q k^T / sqrt(d) + pos) v, eq. (9) with the usual scale
        h = F.scaled_dot_product_attention(q, k, v, attn_mask=self.pos).transpose(1, 2).flatten(2)
        return self.out(h).transpose(1, 2).reshape(x.shape)


class KuramotoLayer(nn.Module):
    """T Kuramoto steps (eqs. 4-5) with connectivity ``J``, natural frequency ``omega`` and a step
    size ``gamma`` (learned when ``learn_gamma``). ``c_norm`` applies GroupNorm, one group per
    oscillator, to the stimulus; ``project=False`` is the no-projection ablation."""

    def __init__(self, J, channels, n, omega=None, gamma=1.0, learn_gamma=False, c_norm=False, project=True):
        super().__init__()
        if channels % n:
            raise ValueError(f"channels={channels} is not divisible by n={n}")
        self.J, self.n, self.omega, self.project = J, n, omega, project
        self.gamma = nn.Parameter(torch.tensor(float(gamma)), requires_grad=learn_gamma)
        self.c_norm = nn.GroupNorm(channels // n, channels) if c_norm else None

    def forward(self, x, c, T, return_energy=False):
        if self.c_norm is not None:
            c = self.c_norm(c)
        x = normalize(x, self.n)
        energies = []
        for _ in range(T):
            if return_energy:
                energies.append(energy(x, c, self.J))
            x = kuramoto_step(x, c, self.J, self.omega, self.gamma, self.n, self.project)
        if return_energy:
            energies.append(energy(x, c, self.J))
            return x, torch.stack(energies, 1)
        return x


class ReadOut(nn.Module):
    """Readout of eq. (6): z_k = sum_i U_ki x_i in R^{n'}, m_k = ||z_k||, then C = g(m).

    U is a convolution (``kernel`` over ``[B, C, H, W]``) or a linear map over channels (``kernel=None``,
    ``[B, C, *S]``), giving ``out_channels * n_out`` channels whose norms over groups of ``n_out``
    are the ``out_channels`` outputs (plus a learned bias).

    Phase invariance: the paper says these norms are invariant to a global phase shift. That holds
    only when every block U_ki commutes with the rotation (e.g. U_ki = u_ki I); for the general
    learned U used here, and in the paper, turning all oscillators together changes m (see the
    tests). The readout *can* represent invariant functions; it is not invariant in general."""

    def __init__(self, channels, out_channels, n_out=2, kernel=None):
        super().__init__()
        self.n_out = n_out
        if kernel is None:
            self.U = nn.Linear(channels, out_channels * n_out, bias=False)
        else:
            self.U = nn.Conv2d(channels, out_channels * n_out, kernel, padding=kernel // 2, bias=False)
        self.bias = nn.Parameter(torch.zeros(out_channels))

    def forward(self, x):
        z = self.U(x) if isinstance(self.U, nn.Conv2d) else self.U(x.movedim(1, -1)).movedim(-1, 1)
        zg = group(z, self.n_out)
        m = ((zg * zg).sum(2) + 1e-12).sqrt()  # the norm, kept differentiable at z = 0
        return m + self.bias.view(-1, *([1] * (m.dim() - 2)))


class AKOrNBlock(nn.Module):
    """One block of Fig. 2: a Kuramoto layer, then the readout and ``g`` giving the next stimulus."""

    def __init__(self, layer, readout, g=None):
        super().__init__()
        self.layer, self.readout, self.g = layer, readout, g if g is not None else nn.Identity()

    def forward(self, x, c, T, return_energy=False):
        out = self.layer(x, c, T, return_energy)
        x, e = out if return_energy else (out, None)
        c_next = self.g(self.readout(x))
        return (x, c_next, e) if return_energy else (x, c_next)


def itrsa_step(x, c, J, norm):
    """One update of the paper's non-Kuramoto baseline ItrSA (iterated self-attention with shared
    weights): x <- x + J(LN(x)) + c, with ``norm`` a LayerNorm over channels. No sphere, no
    tangent projection; ``x`` and ``c`` are ``[B, C, *S]``."""
    return x + J(norm(x.movedim(1, -1)).movedim(-1, 1)) + c


def itrsa_rollout(c, J, norm, T):
    """``T`` :func:`itrsa_step` updates from x = c (the ItrSA counterpart of :func:`rollout`)."""
    x = c
    for _ in range(T):
        x = itrsa_step(x, c, J, norm)
    return x


class ItrSABlock(nn.Module):
    """The ItrSA counterpart of :class:`AKOrNBlock`: :func:`itrsa_rollout`, then a linear readout
    over channels gives the next stimulus."""

    def __init__(self, J, channels):
        super().__init__()
        self.J, self.norm, self.readout = J, nn.LayerNorm(channels), nn.Linear(channels, channels)

    def forward(self, c, T):
        return self.readout(itrsa_rollout(c, self.J, self.norm, T).movedim(1, -1)).movedim(-1, 1)


# ----------------------------------------------------------------------------- object discovery


class ObjectAKOrN(nn.Module):
    """The object-discovery network of Sec. 5.1 at toy scale, after the authors' code: a
    ``patch x patch`` strided convolution of the RGB image gives the stimulus C0 on a grid of
    tokens; ``blocks`` attentive AKOrN blocks follow (oscillators start at random on the sphere and
    carry over from block to block; each block's readout, eq. 6, is the next stimulus; g is the
    identity; no Omega). The final stimulus C^(L) is the per-token feature map that is clustered
    into objects; for SimCLR training it is max-pooled over tokens and passed through a
    one-hidden-layer MLP.

    The step size. This class runs eqs. (4)-(5) as written, with a fixed ``gamma`` (default 1).
    The released object models differ: their ``KLayer`` built without Omega sets its Omega to
    ``nn.Identity`` (and its ``hasattr(self, "omg")`` test is then always true), so their update
    adds ``+x`` to dx/dt: x <- Pi[x + g (x + Proj_x(c + J x))] = Pi[x + g/(1+g) Proj_x(c + J x)].
    With their g = 1 that is this library's step with ``gamma = 0.5`` (:func:`released_step`), not
    with ``gamma = 1``. The two are the same family of functions: Proj_x is linear in its argument,
    so a step ``gamma`` with coupling J and stimulus c equals a step ``gamma'`` with ``gamma/gamma'``
    times J and c; :meth:`with_gamma` returns that exact reparametrisation. They are not the same
    training problem: the released form of a ``gamma = 1`` network starts with its patch
    embedding, coupling outputs and inner readouts twice as large, and Adam moves them twice as
    fast relative to the released parametrisation.

    ``kuramoto=False`` is the ItrSA baseline: the same attention, the same number of blocks and
    steps, with :class:`ItrSABlock` in place of the Kuramoto layer and its readout."""

    def __init__(self, size=32, patch=4, channels=64, n=4, heads=4, T=4, blocks=2, kuramoto=True, gamma=1.0):
        super().__init__()
        if size % patch:
            raise ValueError(f"the image size {size} must be a multiple of the patch size {patch}")
        self.size, self.n, self.T, self.kuramoto = size, n, T, kuramoto
        self.patchify = nn.Conv2d(3, channels, patch, stride=patch)
        tokens = (size // patch) ** 2
        if kuramoto:
            self.blocks = nn.ModuleList(
                AKOrNBlock(KuramotoLayer(AttnJ(channels, heads, tokens), channels, n, gamma=gamma),
                           ReadOut(channels, channels, n_out=n))
                for _ in range(blocks))
        else:
            self.blocks = nn.ModuleList(ItrSABlock(AttnJ(channels, heads, tokens), channels) for _ in range(blocks))
        self.head = nn.Sequential(nn.Linear(channels, 4 * channels), nn.ReLU(), nn.Linear(4 * channels, channels))

    def features(self, images, T=None, generator=None):
        """The per-token features C^(L), ``[B, C, size/patch, size/patch]``, of images ``[B, 3, size, size]``
        in [0, 1]."""
        if images.dim() != 4 or images.shape[1:] != (3, self.size, self.size):
            raise ValueError(f"expected images [B, 3, {self.size}, {self.size}]; got {tuple(images.shape)}")
        T = self.T if T is None else T
        c = self.patchify(2 * images - 1)
        if not self.kuramoto:
            for block in self.blocks:
                c = block(c, T)
            return c
        x = random_oscillators(c.shape, self.n, generator=generator, device=c.device, dtype=c.dtype)
        for block in self.blocks:
            x, c = block(x, c, T)
        return c

    def forward(self, images, T=None, generator=None):
        """The SimCLR projection ``[B, C]``: max-pool of :meth:`features` over tokens, then the MLP."""
        return self.head(self.features(images, T, generator).amax((2, 3)))

    @torch.no_grad()
    def with_gamma(self, gamma):
        """A copy that computes the same features with step size ``gamma`` (a Kuramoto network
        only): with s = old gamma / ``gamma``, the patch embedding, every coupling's output map and
        the readouts that feed a next block are multiplied by s, so every block sees s times its
        stimulus and coupling. ``with_gamma(0.5)`` of a ``gamma = 1`` network is its form under the
        released code's update (see the class docstring). Exact up to the 1e-12 inside the
        readout's norm."""
        import copy

        if not self.kuramoto:
            raise ValueError("with_gamma needs a Kuramoto network; ItrSA has no step size")
        if not gamma > 0:
            raise ValueError(f"the step size gamma must be positive; got {gamma}")
        new = copy.deepcopy(self)
        for block in new.blocks:
            s = block.layer.gamma.item() / gamma
            block.layer.gamma.fill_(gamma)
            block.layer.J.out.weight.mul_(s)
        first = self.blocks[0].layer.gamma.item() / gamma
        new.patchify.weight.mul_(first)
        new.patchify.bias.mul_(first)
        for block, nxt in zip(new.blocks[:-1], self.blocks[1:]):
            s = nxt.layer.gamma.item() / gamma
            block.readout.U.weight.mul_(s)
            block.readout.bias.mul_(s)
        return new


# ----------------------------------------------------------------------------- the digits classifiers


class AKOrNClassifier(nn.Module):
    """A one-block convolutional AKOrN for small images (the toy version of Table 4's AKOrN^conv):
    a 3x3 conv stimulus C0 -> Kuramoto layer (ConvJ, shared Omega, T steps) -> readout ->
    BN-ReLU-conv -> average pool -> linear. ``X0`` is random on the sphere, so the forward pass is
    stochastic unless a ``generator`` is given."""

    def __init__(self, in_channels=1, channels=32, n=2, T=3, kernel=3, classes=10, project=True, omega=1.0):
        super().__init__()
        self.n, self.T = n, T
        self.stem = nn.Conv2d(in_channels, channels, 3, padding=1)
        omega_mod = SkewOmega(n, init=omega) if omega else None
        layer = KuramotoLayer(ConvJ(channels, kernel), channels, n, omega_mod, gamma=1.0, c_norm=True, project=project)
        g = nn.Sequential(nn.BatchNorm2d(channels), nn.ReLU(), nn.Conv2d(channels, channels, 3, padding=1))
        self.block = AKOrNBlock(layer, ReadOut(channels, channels, n_out=2, kernel=3), g)
        self.head = nn.Linear(channels, classes)

    def forward(self, img, T=None, generator=None, return_energy=False):
        c = self.stem(img)
        x = random_oscillators(c.shape, self.n, generator=generator, device=c.device, dtype=c.dtype)
        out = self.block(x, c, self.T if T is None else T, return_energy)
        logits = self.head(F.relu(out[1]).mean((2, 3)))
        return (logits, out[2]) if return_energy else logits


class SmallCNN(nn.Sequential):
    """The conventional baseline: three 3x3 conv layers with ReLU, average pool, linear."""

    def __init__(self, in_channels=1, channels=44, classes=10):
        super().__init__(
            nn.Conv2d(in_channels, channels, 3, padding=1), nn.ReLU(),
            nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(),
            nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, classes))


# ----------------------------------------------------------------------------- the Sudoku models


class SudokuAKOrN(nn.Module):
    """One attentive AKOrN block over the cells of a ``size x size`` Sudoku (Sec. 6.2, toy scale).

    Digits 0..size (0 = blank) are embedded into the stimulus C0; given cells start their
    oscillators at c/||c||, blanks at random. ``kuramoto=False`` gives the ItrSA-like baseline:
    the same attention iterated as a residual update with LayerNorm, no sphere, no projection."""

    def __init__(self, size=4, channels=64, n=4, heads=4, T=8, kuramoto=True):
        super().__init__()
        self.size, self.n, self.T, self.kuramoto = size, n, T, kuramoto
        cells = size * size
        self.embed = nn.Embedding(size + 1, channels)
        self.J = AttnJ(channels, heads, tokens=cells)
        self.omega = SkewOmega(n, init=0.1) if kuramoto else None
        self.gamma = nn.Parameter(torch.tensor(1.0))
        self.norm = None if kuramoto else nn.LayerNorm(channels)
        self.readout = ReadOut(channels, channels, n_out=n) if kuramoto else nn.Linear(channels, channels)
        self.head = nn.Sequential(nn.ReLU(), nn.Linear(channels, channels), nn.ReLU(), nn.Linear(channels, size))

    def forward(self, boards, T=None, generator=None, return_energy=False):
        """``boards`` ``[B, size, size]`` ints -> logits ``[B, size*size, size]`` (and energies ``[B, T+1]``)."""
        if boards.dim() != 3 or boards.shape[1:] != (self.size, self.size):
            raise ValueError(f"expected boards [B, {self.size}, {self.size}]; got {tuple(boards.shape)}")
        T = self.T if T is None else T
        c = self.embed(boards.flatten(1)).transpose(1, 2)  # [B, C, L]
        if self.kuramoto:
            noise = random_oscillators(c.shape, self.n, generator=generator, device=c.device, dtype=c.dtype)
            given = (boards.flatten(1) > 0).unsqueeze(1)
            x = torch.where(given, normalize(c, self.n), noise)
            x, energies = rollout(x, c, self.J, self.omega, self.gamma, self.n, T)
            feats = self.readout(x).transpose(1, 2)
        else:
            x = itrsa_rollout(c, self.J, self.norm, T)
            energies = torch.zeros(len(c), T + 1, device=c.device)
            feats = self.readout(x.transpose(1, 2))
        logits = self.head(feats)
        return (logits, energies) if return_energy else logits


def energy_vote(predictions, energies, reduce="last"):
    """Test-time energy voting (Sec. 6.2): among K runs from different initial oscillators, keep
    each item's prediction with the lowest energy.

    ``predictions`` is ``[K, B, ...]``; ``energies`` is ``[K, B]`` or ``[K, B, T]`` (per step), scored
    by the final value (``reduce="last"``) or the sum over steps (``"sum"``, the paper's best).
    Ties go to the lowest run index."""
    if energies.shape[:2] != predictions.shape[:2]:
        raise ValueError(f"energies {tuple(energies.shape)} and predictions {tuple(predictions.shape)} "
                         "must share their first two axes [K, B]")
    if energies.dim() == 3:
        if reduce not in ("last", "sum"):
            raise ValueError(f"reduce must be 'last' or 'sum'; got {reduce!r}")
        energies = energies[..., -1] if reduce == "last" else energies.sum(-1)
    best = energies.argmin(0)  # [B]
    index = best.view(1, -1, *([1] * (predictions.dim() - 2))).expand(1, *predictions.shape[1:])
    return predictions.gather(0, index).squeeze(0)


class AverageLogProbs(nn.Module):
    """Mean log-probabilities of a stochastic classifier over ``samples`` forward passes. The
    cross-entropy of this mean equals the mean cross-entropy, so an attack on the wrapped model
    follows the expectation-over-transformation (EoT) gradient (Athalye et al. 2018)."""

    def __init__(self, model, samples=4):
        super().__init__()
        self.model, self.samples = model, samples

    def forward(self, x):
        return torch.stack([F.log_softmax(self.model(x), -1) for _ in range(self.samples)]).mean(0)
