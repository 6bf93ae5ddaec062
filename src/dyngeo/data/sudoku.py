"""Sudoku boards made and checked in code. The 4x4 case (Shidoku: digits 1-4, rows, columns and
2x2 boxes) has exactly 288 solutions, all enumerated here; puzzles hide some cells (0 = blank)."""

import itertools

import numpy as np
import torch


def _groups(size):
    box = int(round(size ** 0.5))
    if box * box != size:
        raise ValueError(f"the board side must be a perfect square; got {size}")
    idx = np.arange(size * size).reshape(size, size)
    rows = [idx[r] for r in range(size)]
    cols = [idx[:, c] for c in range(size)]
    boxes = [idx[r:r + box, c:c + box].ravel() for r in range(0, size, box) for c in range(0, size, box)]
    return np.array(rows + cols + boxes)  # [3*size, size] cell indices


def is_valid(boards):
    """``[B, size, size]`` -> bool ``[B]``: every row, column and box holds the digits 1..size once."""
    if boards.dim() != 3 or boards.shape[1] != boards.shape[2]:
        raise ValueError(f"boards must be [B, size, size]; got {tuple(boards.shape)}")
    size = boards.shape[1]
    cells = boards.flatten(1)[:, torch.as_tensor(_groups(size))]  # [B, groups, size]
    want = torch.arange(1, size + 1, device=boards.device)
    return (cells.sort(-1).values == want).all(-1).all(-1)


def consistent(solutions, puzzles):
    """Bool ``[B]``: the solution keeps every given digit (non-zero cell) of its puzzle."""
    return ((puzzles == 0) | (solutions == puzzles)).flatten(1).all(1)


def shidoku_solutions():
    """All 288 valid 4x4 boards, ``[288, 4, 4]`` int64 (enumerated by brute force and checked)."""
    perms = torch.tensor(list(itertools.permutations(range(1, 5))))  # 24 rows
    grids = torch.cartesian_prod(*[torch.arange(24)] * 4)  # 331,776 candidate boards
    boards = perms[grids]  # [M, 4, 4], rows valid by construction
    return boards[is_valid(boards)]


def make_puzzles(solutions, givens, repeats=1, seed=0):
    """Hide cells of each solution: every copy (``repeats`` per solution) keeps a random number of
    givens drawn from the range ``givens=(lo, hi)`` (inclusive). Returns ``(puzzles, solutions)``."""
    lo, hi = givens
    size2 = solutions.shape[1] * solutions.shape[2]
    if not 0 <= lo <= hi <= size2:
        raise ValueError(f"givens must satisfy 0 <= lo <= hi <= {size2}; got {givens}")
    g = torch.Generator().manual_seed(seed)
    sols = solutions.repeat_interleave(repeats, 0)
    ranks = torch.rand(len(sols), size2, generator=g).argsort(1).argsort(1)  # random order of cells
    keep = ranks < torch.randint(lo, hi + 1, (len(sols), 1), generator=g)
    return torch.where(keep.view_as(sols), sols, torch.zeros_like(sols)), sols
