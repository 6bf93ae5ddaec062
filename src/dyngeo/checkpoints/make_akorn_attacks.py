"""How strong must the attack be? Accuracy of the digits classifiers of the AKOrN chapter (the
weights in ``akorn.pt``, made by ``make_akorn.py``) against the strength of an L-infinity PGD
attack, saved as ``akorn_attacks.pt`` (a few kilobytes of curves).

A stochastic model (AKOrN starts its oscillators at random) can look robust only because a weak
attack follows the gradient of one random draw. Three knobs make the attack stronger: the number
of PGD steps, the number of random draws averaged per gradient (expectation over transformation,
EoT, Athalye et al. 2018) and the radius eps. The script sweeps each knob with the others fixed,
on the first ``ATTACKED`` test digits, and measures the expected accuracy of every model on the
adversarial digits (the mean over ``DRAWS`` random draws of the oscillators). It also transfers
the CNN's adversarial digits to the AKOrN models (a black-box attack): if those hurt more than
the white-box attack, the white-box gradient is not to be trusted.

Run: ``python -m dyngeo.checkpoints.make_akorn_attacks`` (one thread; on a heavily loaded two-core
machine each AKOrN model took 20-25 minutes, the CNN two);
``--only NAME ... --out PATH`` computes only those models into ``PATH``, ``--extra-eot K ... --out
PATH`` only those points of the EoT sweep, and ``--merge PATH ...`` combines such parts into
``akorn_attacks.pt``.
"""

import sys
import time

import torch

from dyngeo.attacks import pgd
from dyngeo.checkpoints import load, save
from dyngeo.checkpoints.make_akorn import digits_models
from dyngeo.data import digits
from dyngeo.models.akorn import AKOrNClassifier, AverageLogProbs

ATTACKED, DRAWS, SEED = 128, 16, 0
EPS0, STEPS0, EOT0 = 0.1, 50, 8  # the fixed values of the knobs not being swept
STEP_SWEEP = (5, 10, 20, 50, 100)  # at eps = EPS0, EoT = EOT0
EOT_SWEEP = (1, 2, 4, 8, 16, 32)  # at eps = EPS0, STEPS0 steps, for EOT_MODEL only
EOT_MODEL = "AKOrN N=2"
EPS_SWEEP = (0.02, 0.05, 0.1, 0.15, 0.2, 0.3)  # at STEPS0 steps, EoT = EOT0
WEAK = dict(eps=0.1, steps=10, eot=2)  # the attack the chapter used to rely on
CHECK = dict(eps=0.1, steps=20, eot=8, n=32)  # the point the chapter and the test recompute


def load_models():
    """The four digits classifiers with the shipped weights, in eval mode."""
    saved = load("akorn")
    models = digits_models()
    for name, model in models.items():
        model.load_state_dict(saved[name])
        model.eval()
    return models


def test_digits(n=ATTACKED):
    """The first ``n`` test digits ``[n, 1, 8, 8]`` and their labels."""
    _, _, Xte, yte = digits()
    return Xte.view(-1, 1, 8, 8)[:n], yte[:n]


@torch.no_grad()
def expected_accuracy(model, X, y, draws=DRAWS, seed=SEED):
    """Accuracy on ``X`` averaged over ``draws`` random draws of the initial oscillators (one
    draw for a deterministic model)."""
    if not isinstance(model, AKOrNClassifier):
        return (model(X).argmax(1) == y).float().mean().item()
    g = torch.Generator().manual_seed(seed + 1)
    return torch.stack([(model(X, generator=g).argmax(1) == y).float().mean() for _ in range(draws)]).mean().item()


def attack(model, X, y, eps, steps, eot, seed=SEED):
    """PGD (random start, step 2.5 eps / steps) on the cross-entropy of the model's mean
    log-probabilities over ``eot`` draws of the oscillators; returns the adversarial inputs.
    Seeded: the same call gives the same inputs."""
    torch.manual_seed(seed)  # the draws inside AverageLogProbs
    target = AverageLogProbs(model, eot) if isinstance(model, AKOrNClassifier) else model
    return pgd(target, X, y, eps, alpha=2.5 * eps / steps, steps=steps, random_start=True,
               generator=torch.Generator().manual_seed(seed))


def attacked_accuracy(model, X, y, eps, steps, eot, seed=SEED, draws=DRAWS):
    """Expected accuracy of ``model`` on the output of :func:`attack`."""
    return expected_accuracy(model, attack(model, X, y, eps, steps, eot, seed), y, draws, seed)


def sweep(name, model, X, y):
    out, start = {}, time.time()
    out["clean"] = expected_accuracy(model, X, y)
    out["weak"] = attacked_accuracy(model, X, y, **WEAK)
    out["steps"] = {s: attacked_accuracy(model, X, y, EPS0, s, EOT0) for s in STEP_SWEEP}
    # the three sweeps meet at (EPS0, STEPS0, EOT0): computed once (the attack is seeded, so a
    # second run would give the same number)
    same = out["steps"][STEPS0]
    print(f"{name} steps {out['steps']} ({time.time() - start:.0f} s)", flush=True)
    if name == EOT_MODEL:
        out["eot"] = {k: same if k == EOT0 else attacked_accuracy(model, X, y, EPS0, STEPS0, k) for k in EOT_SWEEP}
        print(f"{name} eot {out['eot']} ({time.time() - start:.0f} s)", flush=True)
    out["eps"] = {e: same if e == EPS0 else attacked_accuracy(model, X, y, e, STEPS0, EOT0) for e in EPS_SWEEP}
    print(f"{name} eps {out['eps']} ({time.time() - start:.0f} s)", flush=True)
    n = CHECK["n"]
    out["check"] = attacked_accuracy(model, X[:n], y[:n], CHECK["eps"], CHECK["steps"], CHECK["eot"])
    return out


def transfer(models, X, y):
    """Accuracy of every model on the CNN's adversarial digits (STEPS0 steps) at each eps."""
    adv = {e: attack(models["CNN"], X, y, e, STEPS0, 1) for e in EPS_SWEEP}
    return {name: {e: expected_accuracy(m, adv[e], y) for e in EPS_SWEEP} for name, m in models.items()}


def main(only=None, out_path=None):
    torch.set_num_threads(1)
    models = load_models()
    X, y = test_digits()
    res = {"attacked": ATTACKED, "draws": DRAWS, "seed": SEED, "eps0": EPS0, "steps0": STEPS0, "eot0": EOT0,
           "weak_setting": WEAK, "check_setting": CHECK, "curves": {}}
    for name, model in models.items():
        if only and name not in only:
            continue
        res["curves"][name] = sweep(name, model, X, y)
    if not only or "transfer" in only:
        res["transfer"] = transfer(models, X, y)
        print("transfer", res["transfer"], flush=True)
    if out_path:
        torch.save(res, out_path)
        print("saved", out_path)
    else:
        print("saved", save(res, "akorn_attacks"))


def extra_eot(draws, out_path):
    """Only the points ``draws`` of the EoT sweep of EOT_MODEL (to run them in parallel)."""
    torch.set_num_threads(1)
    model = load_models()[EOT_MODEL]
    X, y = test_digits()
    res = {"curves": {EOT_MODEL: {"eot": {k: attacked_accuracy(model, X, y, EPS0, STEPS0, k) for k in draws}}}}
    print(res, flush=True)
    torch.save(res, out_path)


def merge(paths):
    """Combine the parts written with ``--out`` into ``akorn_attacks.pt``."""
    parts = [torch.load(p, weights_only=True) for p in paths]
    res = next(p for p in parts if "attacked" in p)
    for p in parts:
        for name, cv in p["curves"].items():
            entry = res["curves"].setdefault(name, {})
            for key, val in cv.items():
                if isinstance(val, dict):
                    entry.setdefault(key, {}).update(val)
                else:
                    entry[key] = val
        if "transfer" in p:
            res["transfer"] = p["transfer"]
    for cv in res["curves"].values():
        if "eot" in cv:
            cv["eot"] = dict(sorted(cv["eot"].items()))
    print("saved", save(res, "akorn_attacks"))


if __name__ == "__main__":
    args = sys.argv[1:]
    if "--merge" in args:
        merge(args[args.index("--merge") + 1:])
    elif "--extra-eot" in args:
        extra_eot([int(a) for a in args[args.index("--extra-eot") + 1:args.index("--out")]], args[args.index("--out") + 1])
    else:
        only = args[args.index("--only") + 1:args.index("--out")] if "--only" in args else None
        main(only, args[args.index("--out") + 1] if "--out" in args else None)
