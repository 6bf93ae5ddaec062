"""The 7x7 letters 'A'-'E' of SA-nODE's Sec. IV, and its noise protocol (a fraction of pixels replaced).

The glyphs are drawn from a small bitmap below ('#' = 1, '.' = 0); nothing is downloaded.
"""

import torch

_GLYPHS = {
    "A": "...#... ..#.#.. .#...#. #.....# ####### #.....# #.....#",
    "B": "######. #.....# #.....# ######. #.....# #.....# ######.",
    "C": ".#####. #.....# #...... #...... #...... #.....# .#####.",
    "D": "#####.. #....#. #.....# #.....# #.....# #....#. #####..",
    "E": "####### #...... #...... #####.. #...... #...... #######",
}
LETTERS = tuple(_GLYPHS)


def letters_7x7():
    """The five clean letters as a ``[5, 49]`` float32 tensor of 0/1 pixels (row-major 7x7)."""
    rows = [[1.0 if c == "#" else 0.0 for c in glyph.replace(" ", "")] for glyph in _GLYPHS.values()]
    return torch.tensor(rows, dtype=torch.float32)


def corrupt_pixels(x, eps, generator=None):
    """Replace ``floor(eps * N)`` distinct, randomly chosen pixels of each row of ``x`` ``[B, N]`` by
    uniform noise in [0, 1] (the paper's protocol, ζ = εN corrupted pixels). Returns a new tensor."""
    if not isinstance(x, torch.Tensor) or x.dim() != 2:
        raise ValueError("x must be a [B, N] tensor of images flattened to rows")
    if not 0.0 <= eps <= 1.0:
        raise ValueError(f"eps must lie in [0, 1]; got {eps}")
    B, N = x.shape
    count = int(eps * N + 1e-9)
    if count == 0:
        return x.clone()
    where = torch.rand(B, N, generator=generator).argsort(dim=1)[:, :count].to(x.device)
    noise = torch.rand(B, count, generator=generator, dtype=x.dtype).to(x.device)
    return x.scatter(1, where, noise)


def noisy_letters(per_class, eps, seed=0):
    """``per_class`` noisy copies of each letter at noise level ``eps``: ``(X [5*per_class, 49], y)``."""
    g = torch.Generator().manual_seed(seed)
    clean = letters_7x7()
    labels = torch.arange(len(LETTERS)).repeat_interleave(per_class)
    return corrupt_pixels(clean[labels], eps, g), labels
