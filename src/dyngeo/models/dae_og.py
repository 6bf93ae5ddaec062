"""DAE-G and DAE-OG (Shukla et al. 2024): an autoencoder whose code is cut into one chunk per attribute.

An encoder ``e`` maps an image to ``z ∈ R^{n_out}``; ``z`` is split into ``k`` equal chunks ``z^1..z^k``;
chunk ``i`` passes through its own small *attribute autoencoder* (down to ``n_i`` numbers, the number of
levels of attribute ``i``, and back), an idea taken from chart autoencoders; the decoded chunks are
concatenated and a decoder maps them to an image. ``g`` (attribute autoencoders then decoder) is also the
generator: decode ``z ~ N(0, I_{n_out})``.

The training loss is the paper's eq. (6),

    ``‖X − X_recon‖ + α1 ‖Ẑ Ẑᵀ − I_k‖ + α2 L_stat(X, g(𝒩))``,

with ``Ẑ`` the ``k × (n_out/k)`` matrix of unit-normalised chunks of one image (eq. 1), and ``L_stat`` the
graph loss of :mod:`dyngeo.metrics.two_sample` (eq. 5) between the real batch and a generated one, on
flattened images. DAE-G is ``α1 = 0``; DAE-OG uses ``α1 > 0``. Choices the paper leaves open, made here:
the norms are Frobenius (``‖·‖_2`` of a matrix is ambiguous), averaged over the images of the batch; the
reconstruction term is the per-image Euclidean norm averaged over the batch; the "annealing" is a cosine
learning-rate decay.
"""

import torch
from torch import nn

from ..metrics.two_sample import graph_loss
from ..rng import draw
from ..train import cosine_schedule, progress

__all__ = ["split_chunks", "normalise_chunks", "chunk_gram", "orthogonality_loss", "AttributeAE", "DAEOG",
           "dae_losses", "train_dae", "FactorCNN", "train_factor_cnn"]


def split_chunks(z, k):
    """``z`` [B, n_out] → [B, k, n_out/k]: the ``k`` attribute chunks, in order."""
    if z.ndim != 2:
        raise ValueError(f"z must be [B, n_out]; got shape {tuple(z.shape)}")
    if k < 1 or z.shape[1] % k:
        raise ValueError(f"n_out = {z.shape[1]} must split into k = {k} equal chunks")
    return z.reshape(z.shape[0], k, z.shape[1] // k)


def normalise_chunks(z, k, eps=1e-12):
    """The unit-normalised chunks ``ẑ^i = z^i / ‖z^i‖₂`` (eq. 6), [B, k, n_out/k]."""
    c = split_chunks(z, k)
    return c / c.norm(dim=2, keepdim=True).clamp_min(eps)


def chunk_gram(z, k):
    """``Ẑ Ẑᵀ`` per image: the ``k × k`` matrix of cosines between chunks, [B, k, k]."""
    c = normalise_chunks(z, k)
    return c @ c.transpose(1, 2)


def orthogonality_loss(z, k):
    """``‖Ẑ Ẑᵀ − I_k‖_F`` of eq. (1), averaged over the batch. Zero iff the chunks of every image are
    mutually orthogonal; ``sqrt(k(k−1))`` when all chunks of every image point the same way; unchanged
    when a chunk is multiplied by a positive number."""
    G = chunk_gram(z, k)
    eye = torch.eye(k, dtype=G.dtype, device=G.device)
    return torch.linalg.matrix_norm(G - eye).mean()


def _mlp(sizes, last=None):
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ELU())
    if last is not None:
        layers.append(last)
    return nn.Sequential(*layers)


class AttributeAE(nn.Module):
    """One chunk's autoencoder (Table 1: n_in → 128 → 64 → 32 → n_k and back, ELU); ``hidden`` scales it."""

    def __init__(self, n_in, n_k, hidden=(128, 64, 32)):
        super().__init__()
        if n_in < 1 or n_k < 1:
            raise ValueError(f"n_in and n_k must be positive; got {n_in}, {n_k}")
        self.encoder = _mlp([n_in, *hidden, n_k])
        self.decoder = _mlp([n_k, *hidden[::-1], n_in])

    def forward(self, c):
        a = self.encoder(c)
        return self.decoder(a), a


class DAEOG(nn.Module):
    """The DAE-G / DAE-OG network (Fig. 1, Table 1).

    ``image_shape`` (C, H, W); ``n_out`` the size of the initial code, a multiple of ``len(n_ks)``;
    ``n_ks`` the attribute codes' sizes. ``conv=True`` uses Table 1's encoder/decoder (Conv 4×4 stride 4,
    Conv 2×2 stride 2, FC 128; mirrored with transposed convolutions, sigmoid output; H and W multiples of 8);
    ``conv=False`` an MLP with one hidden layer of ``width`` units, for small images on a CPU.
    """

    def __init__(self, image_shape, n_out, n_ks, conv=False, width=256, attr_hidden=(128, 64, 32)):
        super().__init__()
        C, H, W = image_shape
        self.image_shape, self.k, self.n_out, self.n_ks = tuple(image_shape), len(n_ks), n_out, list(n_ks)
        if self.k < 1 or n_out % self.k:
            raise ValueError(f"n_out = {n_out} must split into {self.k} equal chunks")
        n_in = n_out // self.k
        if conv:
            if H % 8 or W % 8:
                raise ValueError(f"conv=True needs H and W multiples of 8; got {H}×{W}")
            flat = 32 * (H // 8) * (W // 8)
            self.encoder = nn.Sequential(nn.Conv2d(C, 16, 4, 4), nn.ELU(), nn.Conv2d(16, 32, 2, 2), nn.ELU(),
                                         nn.Flatten(), nn.Linear(flat, width), nn.ELU(), nn.Linear(width, n_out))
            self.decoder = nn.Sequential(nn.Linear(n_out, width), nn.ELU(), nn.Linear(width, flat), nn.ELU(),
                                         nn.Unflatten(1, (32, H // 8, W // 8)), nn.ConvTranspose2d(32, 16, 2, 2),
                                         nn.ELU(), nn.ConvTranspose2d(16, C, 4, 4), nn.Sigmoid())
        else:
            D = C * H * W
            self.encoder = nn.Sequential(nn.Flatten(), _mlp([D, width, n_out]))
            self.decoder = nn.Sequential(_mlp([n_out, width, D], last=nn.Sigmoid()), nn.Unflatten(1, (C, H, W)))
        self.attributes = nn.ModuleList(AttributeAE(n_in, n_k, attr_hidden) for n_k in n_ks)

    def encode(self, x):
        """The initial code ``z = e(x)``, [B, n_out]."""
        return self.encoder(x)

    def attribute_codes(self, z):
        """The attribute codes ``a^i`` (one [B, n_i] tensor per attribute) of the initial code ``z``."""
        return [ae.encoder(c) for ae, c in zip(self.attributes, split_chunks(z, self.k).unbind(1))]

    def g(self, z):
        """The map ``g``: each chunk through its attribute autoencoder, concatenated, decoded to images."""
        parts = [ae(c)[0] for ae, c in zip(self.attributes, split_chunks(z, self.k).unbind(1))]
        return self.decoder(torch.cat(parts, 1))

    def forward(self, x):
        """``(x_recon, z)``."""
        z = self.encode(x)
        return self.g(z), z

    def generate(self, n, generator=None):
        """``n`` images decoded from ``z ~ N(0, I_{n_out})`` (Sec. 3.4.4)."""
        p = next(self.parameters())
        z = draw(torch.randn, (n, self.n_out), generator, p.device, p.dtype)
        return self.g(z)


def dae_losses(model, x, alpha_orth=0.1, alpha_stat=0.1, lam=0.1, generator=None):
    """The three terms of eq. (6) on a batch ``x`` and their weighted sum, as a dict (``total``, ``rec``,
    ``orth``, ``stat``); the generated batch has the size of ``x``. ``alpha_orth = 0`` is DAE-G."""
    xr, z = model(x)
    rec = (x - xr).flatten(1).norm(dim=1).mean()
    orth = orthogonality_loss(z, model.k)
    total = rec + alpha_orth * orth
    stat = torch.zeros((), dtype=x.dtype, device=x.device)
    if alpha_stat:
        xg = model.generate(x.shape[0], generator=generator)
        stat = graph_loss(x.flatten(1), xg.flatten(1), lam)
        total = total + alpha_stat * stat
    return {"total": total, "rec": rec, "orth": orth, "stat": stat}


def train_dae(model, X, steps=1000, batch=128, alpha_orth=0.1, alpha_stat=0.1, lam=0.1, lr=3e-4, seed=0,
              desc="DAE", stop=None):
    """Train DAE-G (``alpha_orth = 0``) or DAE-OG with Adam, cosine decay from ``lr`` over ``steps``, minibatches
    of ``X`` drawn with ``seed``; ``stop`` ends training early (the first ``stop`` steps of the same run).
    Returns the history: a dict of lists (``total``, ``rec``, ``orth``, ``stat``)."""
    if X.ndim != 4 or tuple(X.shape[1:]) != model.image_shape:
        raise ValueError(f"X must be [N, *{model.image_shape}]; got shape {tuple(X.shape)}")
    if steps < 1 or batch < 2:
        raise ValueError("steps must be >= 1 and batch >= 2")
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, cosine_schedule(steps))
    history = {key: [] for key in ("total", "rec", "orth", "stat")}
    bar = progress(range(steps if stop is None else min(stop, steps)), desc=desc)
    for step in bar:
        idx = torch.randint(0, X.shape[0], (min(batch, X.shape[0]),), generator=gen).to(X.device)
        terms = dae_losses(model, X[idx], alpha_orth, alpha_stat, lam, generator=gen)
        opt.zero_grad(set_to_none=True)
        terms["total"].backward()
        opt.step()
        sched.step()
        for key, value in terms.items():
            history[key].append(value.item())
        if step % 50 == 0:
            bar.set_postfix(rec=f"{history['rec'][-1]:.3f}")
    return history


class FactorCNN(nn.Module):
    """A small CNN that predicts every factor of a scene (one linear head per factor). Its penultimate
    features stand in for Inception's in a Fréchet distance (an offline FID stand-in)."""

    def __init__(self, image_shape, n_levels, features=32):
        super().__init__()
        C, H, W = image_shape
        self.body = nn.Sequential(nn.Conv2d(C, 16, 3, padding=1), nn.ELU(), nn.MaxPool2d(2),
                                  nn.Conv2d(16, 32, 3, padding=1), nn.ELU(), nn.MaxPool2d(2), nn.Flatten(),
                                  nn.Linear(32 * (H // 4) * (W // 4), features), nn.ELU())
        self.heads = nn.ModuleList(nn.Linear(features, n) for n in n_levels)

    def features(self, x):
        return self.body(x)

    def forward(self, x):
        f = self.body(x)
        return [head(f) for head in self.heads]


def train_factor_cnn(X, F, steps=300, batch=128, lr=3e-3, seed=0):
    """A :class:`FactorCNN` trained to classify each factor of ``X`` (levels ``F`` [N, K]); returns
    ``(net, accuracies)`` with the training accuracy per factor."""
    torch.manual_seed(seed)
    n_levels = [int(F[:, k].max()) + 1 for k in range(F.shape[1])]
    net = FactorCNN(tuple(X.shape[1:]), n_levels)
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    for _ in range(steps):
        idx = torch.randint(0, X.shape[0], (min(batch, X.shape[0]),), generator=gen)
        logits = net(X[idx])
        loss = sum(nn.functional.cross_entropy(lg, F[idx, k]) for k, lg in enumerate(logits))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    with torch.no_grad():
        logits = net(X)
    acc = [float((lg.argmax(1) == F[:, k]).float().mean()) for k, lg in enumerate(logits)]
    return net.eval(), acc
