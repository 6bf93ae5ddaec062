"""SA-nODE on MNIST and Fashion-MNIST (Sec. V, Fig. 7): accuracy by the 95 % rule.

Protocol (paper, Sec. V): N = 784 nodes, the ten line attractors of Fig. 2, Adam at the Keras default
rate 1e-3, 700 epochs of mini-batches of 250, explicit Euler with Δt = 0.1 for T = 60 in training and
T = 120 at test. As in Chapter 2 (and the authors' code), the loss adds 0.01 times the orthogonality
penalty on Φ and the state is clipped at 10a; unlike the authors we encode pixels as a(2p − 1) (see
:func:`dyngeo.models.sanode.pixels_to_wells`) and clip the gradient norm at 10. float64 by default.
"""

import torch

from dyngeo.models.sanode import SANODE, accuracy95, line_attractors, nearest_attractor, pixels_to_wells

from .runner import Experiment

PAPER = {"mnist": 98.06, "fashion-mnist": 88.21}
PAPER_COUNTS = {"mnist": {"perfect": 9776, "in [0.95, 1)": 30, "failed": 194},
                "fashion-mnist": {"perfect": 8740, "in [0.95, 1)": 81, "failed": 1179}}


def experiment(dataset, smoke=False, dtype=torch.float64, epochs=None, batch=None, lr=None, T_train=60.0,
               T_eval=120.0, dt=0.1, penalty=0.01):
    """The :class:`~dyngeo.reproduce.runner.Experiment` for ``dataset`` ("mnist" or "fashion-mnist")."""
    if smoke:
        T_train, T_eval = 0.2, 0.2
    epochs, batch, lr = epochs or (1 if smoke else 700), batch or (8 if smoke else 250), lr or 1e-3

    def build():
        return SANODE(line_attractors(10, 784, dtype=dtype), seed=torch.initial_seed())  # the run's --seed

    def prepare(X):
        return pixels_to_wells(X.flatten(1))

    def loss(model, x, y):
        return model.loss(x, y, T_train, dt) + penalty * model.orthogonality_penalty()

    @torch.no_grad()
    def evaluate(model, X, y, *_):
        xT = torch.cat([model(c, T=T_eval, dt=dt) for c in X.split(1000)])
        near = (nearest_attractor(xT, model.attractors) == y).double().mean().item()
        sim = (torch.sign(xT) * torch.sign(model.attractors[y])).mean(1)
        return {"value": 100 * accuracy95(xT, model.attractors, y), "nearest_attractor_accuracy": 100 * near,
                "perfect": int((sim == 1).sum()), "in [0.95, 1)": int(((sim >= 0.95) & (sim < 1)).sum()),
                "failed": int((sim < 0.95).sum()), "T_eval": T_eval}

    name = "sanode-mnist" if dataset == "mnist" else "sanode-fashion-mnist"
    return Experiment(
        name=name, target="SA-nODE, Sec. V and Fig. 7 (accuracy by the 95 % rule)", metric="test accuracy, 95 % rule (%)",
        paper_value=PAPER[dataset], dataset=dataset, build=build, loss=loss, evaluate=evaluate, prepare=prepare,
        epochs=epochs, batch=batch, lr=lr, dtype=dtype, clip=10.0, paper_extra=PAPER_COUNTS[dataset],
        protocol=f"Adam {lr:g}, {epochs} epochs, batch {batch}, Euler dt {dt}, T {T_train} (train) / {T_eval} (test), "
                 f"penalty {penalty} x ||Phi^T Phi - I||^2, gradient norm clipped at 10, x(0) = a(2p - 1)")
