"""Train the SA-nODE checkpoints of chapter 2: ``python -m dyngeo.checkpoints.make_sanode [letters|digits]``.

* ``sanode_letters.pt``: one model per training noise ε_train on the 7x7 letters (Sec. IV, Fig. 3).
* ``sanode_digits.pt``: one model on scikit-learn's 8x8 digits (the chapter's stand-in for Sec. V).

Recipe (float64, Euler Δt = 0.1, T_train = 10, batch 250, state clamp ±10a, gradient norm clipped at 10,
orthogonality penalty 0.01): Adam at lr 3e-3 (digits: then at lr 1e-3). Training runs in chunks; if the Euler unroll produces NaN, the last good chunk is
restored and the learning rate divided by 3 (logged).
"""

import copy
import sys
import time

import torch

from dyngeo.checkpoints import save
from dyngeo.data import digits, noisy_letters
from dyngeo.models.sanode import SANODE, accuracy95, line_attractors, overlap, sign_similarity, train_sanode

DT, T_TRAIN, T_EVAL = 0.1, 10.0, 40.0
LETTER_NOISES = (0.0, 0.3, 0.6)


def robust_train(model, X, y, phases, chunk=50, seed=0):
    """Train through ``phases`` = [(steps, lr), ...], restarting a chunk at lr/3 when it hits NaN."""
    losses, log = [], []
    for steps, lr in phases:
        done = 0
        while done < steps:
            n = min(chunk, steps - done)
            snapshot = copy.deepcopy(model.state_dict())
            try:
                losses += train_sanode(model, X, y, n, lr=lr, T=T_TRAIN, dt=DT, seed=seed + len(losses),
                                       desc=f"lr {lr:.0e}")
                done += n
            except FloatingPointError:
                model.load_state_dict(snapshot)
                lr /= 3
                log.append(f"NaN after {len(losses)} steps: restored, lr -> {lr:.1e}")
                print(log[-1], flush=True)
    return losses, log


def make_letters():
    att = line_attractors(5, 49)
    models, notes = {}, {}
    for eps in LETTER_NOISES:
        t0 = time.time()
        X, y = noisy_letters(200, eps, seed=1)
        model = SANODE(att, seed=0)
        losses, log = robust_train(model, X.double(), y, [(600, 3e-3)])
        Xt, yt = noisy_letters(200, 0.1, seed=5)
        with torch.no_grad():
            mf = overlap(model(Xt.double(), T=T_EVAL, dt=DT), att, yt).mean().item()
        print(f"letters eps_train={eps}: m_f(eps_test=0.1) = {mf:.4f} ({time.time() - t0:.0f} s)", flush=True)
        models[str(eps)] = model.state_dict()
        notes[str(eps)] = {"losses": losses[::10], "log": log}
    save({"models": models, "notes": notes, "dt": DT, "T_train": T_TRAIN, "T_eval": T_EVAL}, "sanode_letters")


def make_digits(steps=(800, 200)):
    X, y, X_test, y_test = digits()
    model = SANODE(line_attractors(10, 64), seed=0)
    t0 = time.time()
    losses, log = robust_train(model, X.double(), y, [(steps[0], 3e-3), (steps[1], 1e-3)])
    with torch.no_grad():
        xT = model(X_test.double(), T=T_EVAL, dt=DT)
        acc = accuracy95(xT, model.attractors, y_test)
        sim = sign_similarity(xT, model.attractors, y_test)
        train_acc = accuracy95(model(X.double(), T=T_EVAL, dt=DT), model.attractors, y)
    print(f"digits: test accuracy (95% rule) {acc:.4f}, train {train_acc:.4f} ({time.time() - t0:.0f} s)")
    save({"model": model.state_dict(), "dt": DT, "T_train": T_TRAIN, "T_eval": T_EVAL, "steps": sum(steps),
          "test_accuracy95": acc, "train_accuracy95": train_acc, "perfect": int((sim == 1).sum()),
          "losses": losses[::10], "log": log}, "sanode_digits")


if __name__ == "__main__":
    which = sys.argv[1:] or ["letters", "digits"]
    torch.set_num_threads(1)
    if "letters" in which:
        make_letters()
    if "digits" in which:
        make_digits()
