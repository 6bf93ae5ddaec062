"""Train the 4x4 Sudoku models of the AKOrN chapter (Sec. 6.2 at toy scale) and save them as
``akorn_sudoku.pt``: one attentive AKOrN block and the same network without the Kuramoto update
(an ItrSA-like baseline), trained with the same data, optimiser and number of steps.

Data: 200 of the 288 Shidoku solutions, each masked 50 times with 6-10 givens; the other 88 are
held out. Run: ``python -m dyngeo.checkpoints.make_akorn_sudoku`` (about 10 minutes on 2 CPU cores).
"""

import time

import torch
from torch.nn import functional as F

from dyngeo.checkpoints import save
from dyngeo.data.sudoku import make_puzzles, shidoku_solutions
from dyngeo.models.akorn import SudokuAKOrN
from dyngeo.train import fit

STEPS, BATCH, LR, SEED, TRAIN_BOARDS = 1000, 64, 3e-3, 0, 200


def split():
    """The fixed split of the 288 solutions into 200 training and 88 held-out boards."""
    sols = shidoku_solutions()
    order = torch.randperm(len(sols), generator=torch.Generator().manual_seed(SEED))
    return sols[order[:TRAIN_BOARDS]], sols[order[TRAIN_BOARDS:]]


def main():
    torch.set_num_threads(1)
    train, _ = split()
    puzzles, solutions = make_puzzles(train, (6, 10), repeats=50, seed=SEED)
    out = {"steps": STEPS, "batch": BATCH, "lr": LR, "seed": SEED}
    for name, kuramoto in (("AKOrN", True), ("ItrSA", False)):
        torch.manual_seed(SEED)
        model = SudokuAKOrN(kuramoto=kuramoto)
        g = torch.Generator().manual_seed(SEED)

        def loss_fn(m):
            idx = torch.randint(len(puzzles), (BATCH,), generator=g)
            return F.cross_entropy(m(puzzles[idx]).flatten(0, 1), (solutions[idx] - 1).flatten())

        start = time.time()
        fit(model, loss_fn, STEPS, lr=LR, desc=name, clip=1.0)
        out[name] = {k: v.clone() for k, v in model.state_dict().items()}
        print(f"{name}: {sum(p.numel() for p in model.parameters())} parameters, {time.time() - start:.0f} s")
    print("saved", save(out, "akorn_sudoku"))


if __name__ == "__main__":
    main()
