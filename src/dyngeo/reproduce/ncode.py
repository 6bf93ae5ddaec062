"""N-CODE image classifiers on MNIST and CIFAR-10 (the table labelled Fig. 5): test accuracy.

Protocol: the paper's classifier (a 1x1-3x3-1x1 convolutional block of 50 channels flowing the image
with 10 zero channels appended, a linear read-out of x(T); in N-CODE the block's kernels are produced
per image by a two-layer perceptron with 10 hidden units), built by
:func:`dyngeo.models.ncode.image_classifiers` with NODE and ANODE widened to the same parameter count.
Training: the paper's stated settings for its control models (App. A.5 and Sec. 5.3): Adam at 1e-3
halved on plateau (here: of the epoch's training loss, patience 3), mini-batches of 64, at most 50
epochs (we run 50). Not stated by the paper, ours: RK4 with 4 steps on [0, 1], no augmentation.
"""

import torch
import torch.nn.functional as F

from dyngeo.models.ncode import image_classifiers

from .runner import Experiment

PAPER = {"mnist": {"NODE": 96.4, "ANODE": 98.2, "N-CODE": 99.2},
         "cifar10": {"NODE": 53.7, "ANODE": 60.6, "N-CODE": 66.7}}
CONFIG = {"augment": 10, "width": 50, "gamma_hidden": 10, "step_size": 0.25}


def experiment(dataset, model="N-CODE", smoke=False, dtype=torch.float32, epochs=None, batch=None, lr=None):
    """The experiment for ``dataset`` ("mnist" or "cifar10") and ``model`` ("NODE", "ANODE" or "N-CODE")."""
    if model not in PAPER[dataset]:
        raise ValueError(f"model must be one of {tuple(PAPER[dataset])}; got {model!r}")
    in_shape = (1, 28, 28) if dataset == "mnist" else (3, 32, 32)
    config = {"in_shape": in_shape, **CONFIG, **({"width": 8, "augment": 2} if smoke else {})}

    def build():
        return image_classifiers(**config)[model]

    def loss(m, x, y):
        return F.cross_entropy(m(x), y)

    @torch.no_grad()
    def evaluate(m, X, y, *_):
        pred = torch.cat([m(c).argmax(1) for c in X.split(500)])
        return {"value": 100 * (pred == y).double().mean().item(), "model": model,
                "parameters": sum(p.numel() for p in m.parameters()), "config": {k: list(v) if isinstance(v, tuple) else v
                                                                                 for k, v in config.items()}}

    name = f"ncode-{dataset}"
    return Experiment(
        name=name, target=f"N-CODE, Fig. 5 (test accuracy table), {model} on {dataset}",
        metric=f"test accuracy of {model} (%)", paper_value=PAPER[dataset][model], dataset=dataset, build=build,
        loss=loss, evaluate=evaluate, epochs=epochs or (1 if smoke else 50), batch=batch or (8 if smoke else 64),
        lr=lr or 1e-3, dtype=dtype, plateau=3, eval_each_epoch=True, paper_extra={"all models": PAPER[dataset]},
        protocol="Adam 1e-3 halved after 3 epochs without a lower training loss, batch 64, 50 epochs, RK4 4 steps "
                 "on [0, 1], 50-channel block, 10 augmented channels, gamma 10 hidden units")
