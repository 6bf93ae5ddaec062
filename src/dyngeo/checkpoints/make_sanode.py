"""Train the SA-nODE checkpoints of chapter 2: ``python -m dyngeo.checkpoints.make_sanode [letters|digits]``.

Run with ``OMP_NUM_THREADS=1``. CPU time measured for the shipped checkpoints (one thread per process;
stored in the checkpoints): ``letters`` 341 s for its 18 models, ``letters_raw`` about 1 min (estimated, not timed: three runs of the same recipe), ``digits``
287 s for its four candidates (54, 57, 57 and 119 s). On a loaded machine the wall time is much longer:
run ``letters_level=<eps>`` and ``digits_candidate=<i>`` as parallel processes, then ``letters digits``
to assemble (results are cached in ``$DYNGEO_SANODE_TMP``).

* ``sanode_letters.pt``: the noise sweep of the paper's Fig. 3 on the 7x7 letters (Sec. IV): one model
  per training noise ε_train in LETTER_NOISES and seed in SEEDS, and the overlap m_f (Eq. 5) and the
  95 %-rule accuracy (Eqs. 7-8) of each on a fixed grid of test noises ε_test.
* ``sanode_letters_raw.pt`` (``letters_raw``): the same recipe at ε_train = 0 with raw inputs x(0) = p,
  three seeds: the control that isolates the input encoding.
* ``sanode_digits.pt``: one model on scikit-learn's 8x8 digits (the chapter's stand-in for Sec. V), its
  recipe chosen among DIGIT_CANDIDATES on a validation split carved out of the training images; the test
  split is used once. ``digits_candidate=<i>`` trains one candidate into ``$DYNGEO_SANODE_TMP`` (default:
  the temporary directory) so that the candidates can run in parallel; ``digits`` trains the missing ones,
  then selects and evaluates.

Input encoding. Every recipe here maps pixels p ∈ [0, 1] onto the wells, x(0) = a(2p − 1)
(:func:`~dyngeo.models.sanode.pixels_to_wells`), except the digits candidate that tests raw intensities.
The authors feed raw p: blank pixels then start exactly at x = 0, the unstable top of the double well,
where the sign they fall to is decided by the coupling alone. On the clean letters (ε_train = 0) that made
the earlier checkpoint's Adam run jump (loss 5.2 → 28.5 → 30.4 → 18.6) and land 'A' on a wrong pattern.

Letters recipe (every ε_train, every seed): 200 noisy copies per letter, one Adam run of LETTER_STEPS
steps at lr 3e-3 decayed to 0 on a cosine, batch 250, Euler Δt = 0.1, T_train = 10, float64, state clamp
±10a, gradient norm clipped at 10, orthogonality penalty 0.01.
"""

import os
import sys
import tempfile
import time
from pathlib import Path

import torch

from dyngeo.checkpoints import save
from dyngeo.data import digits, noisy_letters
from dyngeo.models.sanode import (SANODE, accuracy95, line_attractors, overlap, pixels_to_wells, sign_similarity,
                                  train_sanode)
from dyngeo.train import cosine_schedule

DT, T_TRAIN, T_EVAL = 0.1, 10.0, 40.0
LETTER_NOISES = (0.0, 0.1, 0.3, 0.5, 0.7, 1.0)
SEEDS = (0, 1, 2)
LETTER_STEPS, LETTER_LR = 400, 3e-3
EPS_TEST = tuple(round(0.1 * i, 1) for i in range(11))
PER_LETTER_TEST = 200
CANDIDATE_DIR = Path(os.environ.get("DYNGEO_SANODE_TMP", tempfile.gettempdir()))  # per-model results


def letters_test_set(eps_test, per=PER_LETTER_TEST):
    """The fixed test images of the sweep at noise ``eps_test`` (seed 1000 + 10 ε_test), mapped onto the wells."""
    X, y = noisy_letters(per, eps_test, seed=1000 + round(10 * eps_test))
    return pixels_to_wells(X.double()), y


def sweep_scores(model, eps_tests=EPS_TEST, per=PER_LETTER_TEST):
    """m_f (Eq. 5) and the 95 %-rule accuracy of ``model`` at each test noise; two ``[len(eps_tests)]`` tensors."""
    mf, acc = [], []
    with torch.no_grad():
        for e in eps_tests:
            X, y = letters_test_set(e, per)
            xT = model(X, T=T_EVAL, dt=DT)
            mf.append(overlap(xT, model.attractors, y).mean())
            acc.append((sign_similarity(xT, model.attractors, y) >= 0.95).double().mean())
    return torch.stack(mf), torch.stack(acc)


def train_letter_model(eps, seed):
    """One letters model at training noise ``eps``; returns (state_dict, notes)."""
    t0 = time.time()
    X, y = noisy_letters(200, eps, seed=1 + 100 * seed)
    model = SANODE(line_attractors(5, 49), seed=seed)
    losses = train_sanode(model, pixels_to_wells(X.double()), y, LETTER_STEPS, lr=LETTER_LR, T=T_TRAIN, dt=DT,
                          penalty=0.01, seed=seed, desc=f"eps {eps} seed {seed}",
                          schedule=cosine_schedule(LETTER_STEPS))
    seconds = time.time() - t0
    mf, acc = sweep_scores(model)
    print(f"letters eps_train={eps} seed={seed}: {seconds:.0f} s training; m_f at eps_test 0/0.3/0.6 = "
          f"{mf[0]:.3f}/{mf[3]:.3f}/{mf[6]:.3f}", flush=True)
    return model.state_dict(), {"losses": losses[::5], "seconds": seconds, "mf": mf, "acc": acc}


def letter_level(eps):
    """Train (or reuse from ``CANDIDATE_DIR``) the models of every seed at training noise ``eps``."""
    out = {}
    for seed in SEEDS:
        path = CANDIDATE_DIR / f"sanode_letters_{eps}_{seed}.pt"
        if not path.exists():
            cpu0 = time.process_time()
            state, notes = train_letter_model(eps, seed)
            notes["cpu_seconds"] = time.process_time() - cpu0
            torch.save({"state": state, "notes": notes}, path)
        r = torch.load(path, weights_only=True)
        out[eps, seed] = (r["state"], r["notes"])
    return out


def make_letters():
    runs = {}
    for eps in LETTER_NOISES:
        runs.update(letter_level(eps))
    cpu = sum(r[1]["cpu_seconds"] for r in runs.values())
    save({"models": {f"{e}/{s}": r[0] for (e, s), r in runs.items()},
          "notes": {f"{e}/{s}": r[1] for (e, s), r in runs.items()},
          "eps_train": LETTER_NOISES, "seeds": SEEDS, "eps_test": EPS_TEST, "per_letter_test": PER_LETTER_TEST,
          "input_map": "pixels_to_wells", "dt": DT, "T_train": T_TRAIN, "T_eval": T_EVAL,
          "recipe": f"x0 = a(2p-1); Adam {LETTER_STEPS} steps, lr {LETTER_LR:g} cosine to 0, batch 250, penalty 0.01, "
                    "grad-norm clip 10, T_train 10, dt 0.1",
          "cpu_seconds_total": cpu}, "sanode_letters")
    print(f"letters: {len(runs)} models, {cpu:.0f} s of CPU in all")


def make_letters_raw():
    """The control for the input encoding: the letters recipe at ε_train = 0 with raw intensities x(0) = p,
    for every seed. Writes ``sanode_letters_raw.pt`` (models, losses, sign similarity of the clean letters)."""
    att = line_attractors(5, 49)
    clean_X, clean_y = noisy_letters(1, 0.0)
    out = {"models": {}, "notes": {}}
    for seed in SEEDS:
        t0 = time.time()
        X, y = noisy_letters(200, 0.0, seed=1 + 100 * seed)
        model = SANODE(att, seed=seed)
        losses = train_sanode(model, X.double(), y, LETTER_STEPS, lr=LETTER_LR, T=T_TRAIN, dt=DT, penalty=0.01,
                              seed=seed, desc=f"raw seed {seed}", schedule=cosine_schedule(LETTER_STEPS))
        with torch.no_grad():
            sim = sign_similarity(model(clean_X.double(), T=T_EVAL, dt=DT), att, clean_y)
        out["models"][str(seed)] = model.state_dict()
        out["notes"][str(seed)] = {"losses": losses[::5], "seconds": time.time() - t0, "clean_similarity": sim}
        print(f"raw inputs, seed {seed}: sign similarity of the clean letters {[round(v, 3) for v in sim.tolist()]}",
              flush=True)
    out.update({"input_map": "raw", "dt": DT, "T_eval": T_EVAL, "T_train": T_TRAIN})
    save(out, "sanode_letters_raw")


# Digits: candidate recipes, compared on a validation split of the training images.
DIGIT_CANDIDATES = {
    "raw p, penalty 0.64": dict(wells=False, penalty=0.64, steps=1000),
    "wells, penalty 0.64": dict(wells=True, penalty=0.64, steps=1000),
    "wells, penalty 0": dict(wells=True, penalty=0.0, steps=1000),
    "wells, penalty 0.64, 3000 steps": dict(wells=True, penalty=0.64, steps=3000),
}
DIGIT_LR, DIGIT_BATCH, VAL_FRACTION = 3e-3, 250, 0.2


def digits_split(seed=1):
    """scikit-learn digits as (train, validation, test): the validation images are ``VAL_FRACTION`` of
    :func:`dyngeo.data.digits`' training split (a fixed permutation); the test split is untouched.
    Pixels stay in [0, 1]."""
    X, y, X_test, y_test = digits()
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
    n_val = round(VAL_FRACTION * len(y))
    val, train = order[:n_val], order[n_val:]
    return X[train].double(), y[train], X[val].double(), y[val], X_test.double(), y_test


def encode(X, wells):
    return pixels_to_wells(X) if wells else X


def train_digit_candidate(index, seed=0):
    """Train candidate number ``index`` of DIGIT_CANDIDATES on the training part and score it on the
    validation split (Adam, lr 3e-3 cosine-decayed to 0, batch 250, T_train 10, Δt 0.1, clip 10); the
    result goes to ``CANDIDATE_DIR`` so that the candidates can run as parallel processes."""
    name = list(DIGIT_CANDIDATES)[index]
    cfg = DIGIT_CANDIDATES[name]
    Xtr, ytr, Xval, yval, _, _ = digits_split()
    t0 = time.time()
    model = SANODE(line_attractors(10, 64), seed=seed)
    losses = train_sanode(model, encode(Xtr, cfg["wells"]), ytr, cfg["steps"], lr=DIGIT_LR, batch=DIGIT_BATCH,
                          T=T_TRAIN, dt=DT, penalty=cfg["penalty"], seed=seed, desc=name,
                          schedule=cosine_schedule(cfg["steps"]))
    seconds, cpu = time.time() - t0, time.process_time()
    with torch.no_grad():
        val_acc = accuracy95(model(encode(Xval, cfg["wells"]), T=T_EVAL, dt=DT), model.attractors, yval)
    print(f"digits candidate {name!r}: validation accuracy {val_acc:.4f} ({seconds:.0f} s wall, {cpu:.0f} s CPU)",
          flush=True)
    torch.save({"name": name, "state": model.state_dict(), "val_accuracy95": val_acc, "seconds": seconds,
                "cpu_seconds": cpu, "losses": losses[::10], **cfg}, CANDIDATE_DIR / f"sanode_digits_candidate{index}.pt")


def make_digits():
    """Pick the candidate with the best validation accuracy, evaluate it once on the test split, save."""
    results = {}
    for index in range(len(DIGIT_CANDIDATES)):
        path = CANDIDATE_DIR / f"sanode_digits_candidate{index}.pt"
        if not path.exists():
            train_digit_candidate(index)
        r = torch.load(path, weights_only=True)
        results[r.pop("name")] = r
    name = max(results, key=lambda k: results[k]["val_accuracy95"])
    model = SANODE(line_attractors(10, 64))
    model.load_state_dict(results[name]["state"])
    wells = results[name]["wells"]
    _, ytr, _, yval, Xte, yte = digits_split()
    with torch.no_grad():  # the one look at the test split
        xT = model(encode(Xte, wells), T=T_EVAL, dt=DT)
        acc = accuracy95(xT, model.attractors, yte)
        sim = sign_similarity(xT, model.attractors, yte)
    perfect, near, failed = int((sim == 1).sum()), int(((sim >= 0.95) & (sim < 1)).sum()), int((sim < 0.95).sum())
    print(f"digits: chosen {name!r}; test accuracy (95 % rule) {acc:.4f} "
          f"({perfect} perfect, {near} near, {failed} failed)")
    cfg = DIGIT_CANDIDATES[name]
    recipe = (f"{'x0 = a(2p-1)' if wells else 'x0 = p'}; Adam {cfg['steps']} steps, lr {DIGIT_LR:g} cosine to 0, "
              f"batch {DIGIT_BATCH}, penalty {cfg['penalty']}, grad-norm clip 10; trained on "
              f"{len(ytr)} images, chosen on {len(yval)} validation images")
    candidates = {k: {f: v for f, v in r.items() if f != "state"} for k, r in results.items()}
    save({"model": model.state_dict(), "chosen": name, "candidates": candidates, "wells": wells, "dt": DT,
          "T_train": T_TRAIN, "T_eval": T_EVAL, "recipe": recipe, "test_accuracy95": acc, "perfect": perfect,
          "near": near, "failed": failed, "split_seed": 1, "val_fraction": VAL_FRACTION}, "sanode_digits")


if __name__ == "__main__":
    which = sys.argv[1:] or ["letters", "digits"]
    torch.set_num_threads(1)
    if "letters" in which:
        make_letters()
    if "letters_raw" in which:
        make_letters_raw()
    for arg in which:
        if arg.startswith("letters_level="):  # e.g. letters_level=0.3: the seeds of one noise, for parallel runs
            letter_level(float(arg.split("=")[1]))
        if arg.startswith("digits_candidate="):  # e.g. digits_candidate=1: one candidate, for parallel runs
            train_digit_candidate(int(arg.split("=")[1]))
    if "digits" in which:
        make_digits()
