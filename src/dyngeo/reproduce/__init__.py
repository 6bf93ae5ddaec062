"""Paper-scale runs of the book's experiments: ``python -m dyngeo.reproduce``.

One function per paper protocol, shared by the command line (one process, or several GPUs through
``torchrun``) and by the chapters' ``DYNGEO_SCALE=paper`` branches::

    python -m dyngeo.reproduce                                   # list the experiments
    python -m dyngeo.reproduce sanode-mnist --data-root ~/data --out runs/sanode-mnist
    torchrun --nproc_per_node=4 -m dyngeo.reproduce ncode-cifar10 --data-root ~/data --out runs/ncode-cifar10
    python -m dyngeo.reproduce all --smoke --out /tmp/smoke      # every experiment on stand-in data, two steps

From Python: ``dyngeo.reproduce.run("sanode-mnist", data_root=..., out=...)`` returns a
:class:`~dyngeo.reproduce.runner.Result` (the report, the trained model, the history).
"""

import os
from pathlib import Path

from . import akorn, ncode, relu, sanode
from . import data as rdata
from .data import MissingDataError
from .runner import Result, setup, teardown, train_and_report

#: name -> (paper and figure/table it targets, factory(smoke, dtype, epochs, batch, lr, **options))
EXPERIMENTS = {
    "sanode-mnist": ("SA-nODE (Sec. V, Fig. 7): MNIST accuracy by the 95 % rule, paper 98.06 %",
                     lambda **kw: sanode.experiment("mnist", **kw)),
    "sanode-fashion-mnist": ("SA-nODE (Sec. V): Fashion-MNIST accuracy by the 95 % rule, paper 88.21 %",
                             lambda **kw: sanode.experiment("fashion-mnist", **kw)),
    "ncode-mnist": ("N-CODE (Fig. 5, accuracy table): MNIST, N-CODE 99.2 % (NODE 96.4, ANODE 98.2; --model)",
                    lambda **kw: ncode.experiment("mnist", **kw)),
    "ncode-cifar10": ("N-CODE (Fig. 5, accuracy table): CIFAR-10, N-CODE 66.7 % (NODE 53.7, ANODE 60.6; --model)",
                      lambda **kw: ncode.experiment("cifar10", **kw)),
    "akorn-cifar10-robustness": ("AKOrN (Table 4): AKOrN^conv N=2 on CIFAR-10, adversarial accuracy 58.91 % "
                                 "(clean 88.91 %); PGD-EoT here, AutoAttack there", akorn.cifar_experiment),
    "akorn-sudoku9": ("AKOrN (Tables 3, 19): 9x9 Sudoku, SATNet boards, in-distribution board accuracy 99.8 % (T=16)",
                      akorn.sudoku_experiment),
    "relu-mnist-hamming": ("ReLU polyhedra (Table 3): MNIST 1-NN same class, Hamming 99.50 % vs Euclidean 97.37 %",
                           relu.experiment),
}

#: where the chapters' paper branches read data and write runs (override with DYNGEO_DATA / DYNGEO_RUNS)
DATA_ROOT = Path(os.path.expanduser(os.environ.get("DYNGEO_DATA", "~/.cache/dyngeo")))
RUNS_ROOT = Path(os.path.expanduser(os.environ.get("DYNGEO_RUNS", "~/.cache/dyngeo/runs")))
#: ``DYNGEO_REPRODUCE_SMOKE=1`` makes :func:`run` and :func:`load_data` default to the stand-in data and
#: two steps, to check the chapters' paper branches quickly on a CPU (their numbers then mean nothing)
SMOKE = os.environ.get("DYNGEO_REPRODUCE_SMOKE", "0") == "1"


def experiment(name, smoke=False, dtype=None, epochs=None, batch=None, lr=None, **options):
    """The :class:`~dyngeo.reproduce.runner.Experiment` called ``name`` (see :data:`EXPERIMENTS`)."""
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; choose one of {sorted(EXPERIMENTS)}")
    kw = {k: v for k, v in dict(smoke=smoke, dtype=dtype, epochs=epochs, batch=batch, lr=lr, **options).items()
          if v is not None}
    return EXPERIMENTS[name][1](**kw)


def load_data(name, data_root=None, smoke=None, seed=0):
    """The data of experiment ``name`` as :func:`run` reads them: ``(X_train, y_train, X_test, y_test)``
    on the CPU, before the experiment's ``prepare`` (images stay ``[N, C, H, W]``)."""
    exp = experiment(name, smoke=SMOKE if smoke is None else smoke)
    if SMOKE if smoke is None else smoke:
        return rdata.standin(exp.dataset, seed=seed)
    return rdata.load(exp.dataset, data_root or DATA_ROOT)


def run(name, data_root=None, out=None, smoke=None, resume=False, seed=0, device=None, dump_grads=None,
        command=None, ctx=None, **overrides):
    """Run experiment ``name`` with the paper's protocol (``overrides``: ``epochs``, ``batch`` (global),
    ``lr``, ``dtype``, ``model`` for the N-CODE experiments). Returns a
    :class:`~dyngeo.reproduce.runner.Result`; ``out`` receives ``checkpoint.pt``, ``curve.png`` and
    ``report.json``. Data come from ``data_root`` (default :data:`DATA_ROOT`); a missing file raises
    :class:`MissingDataError` with the command that fetches it."""
    smoke = SMOKE if smoke is None else smoke
    exp = experiment(name, smoke=smoke, **overrides)
    suffix = f"-{overrides['model']}" if overrides.get("model") else ""
    data_root, out = Path(data_root or DATA_ROOT), Path(out or RUNS_ROOT / f"{name}{suffix}")
    if command is None:  # called from Python (a chapter): the equivalent command line
        flags = [f"--data-root {data_root}", f"--out {out}", *(["--smoke"] if smoke else []),
                 *(["--resume"] if resume else []), *([f"--seed {seed}"] if seed else [])]
        flags += [f"--{k} {str(v).replace('torch.', '')}" for k, v in overrides.items()]
        command = f"python -m dyngeo.reproduce {name} " + " ".join(flags)
    return train_and_report(exp, data_root, out, smoke=smoke,
                            resume=resume, seed=seed, device=device, dump_grads=dump_grads, command=command, ctx=ctx)


__all__ = ["EXPERIMENTS", "DATA_ROOT", "RUNS_ROOT", "MissingDataError", "Result", "experiment", "load_data", "run", "setup",
           "teardown"]
