"""Train the object-discovery models of the AKOrN chapter (Sec. 5.1 at toy scale) and save them
as ``akorn_objects.pt``: an attentive AKOrN (:class:`~dyngeo.models.akorn.ObjectAKOrN`) and the
same network with the Kuramoto update removed (the ItrSA baseline), both trained with the SimCLR
loss on the same generated multi-object images, with the same optimiser, steps and seed.

The script trains both models from ``SEEDS`` (as the paper reports three seeds), scores every
run (FG-ARI and MBO of agglomerative clusters of the final features against the true masks, on
held-out images), and stores the scores of all seeds and the weights of the first seed.
Run: ``python -m dyngeo.checkpoints.make_akorn_objects`` (about 20 minutes a seed on two CPU
cores); ``--seeds S ...`` trains only those seeds and keeps the other results of the existing file.
"""

import sys
import time

import torch
from torch.nn import functional as F

from dyngeo.checkpoints import HERE, load, save
from dyngeo.data.shapes import multi_object_images
from dyngeo.metrics import fg_ari, mbo
from dyngeo.models.akorn import ObjectAKOrN
from dyngeo.segment import cluster_features
from dyngeo.ssl import nt_xent, random_view
from dyngeo.train import fit

SIZE, OBJECTS, NOISE = 32, 3, 0.05
TRAIN_IMAGES, TEST_IMAGES = 8192, 256
STEPS, BATCH, LR, TEMPERATURE, SEEDS = 1500, 64, 1e-3, 0.1, (0, 1, 2)
SEED = SEEDS[0]  # the data, the held-out images and the shipped weights
CONFIG = dict(size=SIZE, patch=4, channels=64, n=4, heads=4, T=4, blocks=2)


def object_data(train=True):
    """The fixed training or held-out multi-object images and their masks (different seeds)."""
    n, seed = (TRAIN_IMAGES, SEED) if train else (TEST_IMAGES, SEED + 1)
    return multi_object_images(n, size=SIZE, objects=OBJECTS, noise=NOISE, seed=seed)


def object_models(seed=SEED):
    """AKOrN and the ItrSA baseline, freshly initialised (seeded), keyed by name."""
    torch.manual_seed(seed)
    return {"AKOrN": ObjectAKOrN(**CONFIG, kuramoto=True), "ItrSA": ObjectAKOrN(**CONFIG, kuramoto=False)}


def train_simclr(model, images, steps, batch=BATCH, lr=LR, seed=SEED, desc="SimCLR"):
    """SimCLR training: each step draws ``batch`` images, two random views of each, and minimises
    the NT-Xent loss of the model's projections. Returns the per-step losses."""
    g = torch.Generator().manual_seed(seed)

    def loss_fn(m):
        x = images[torch.randint(len(images), (batch,), generator=g)]
        views = m(torch.cat([random_view(x, g), random_view(x, g)]))
        return nt_xent(*views.chunk(2), temperature=TEMPERATURE)

    model.train()
    losses = fit(model, loss_fn, steps, lr=lr, desc=desc, clip=1.0)
    model.eval()
    return losses


@torch.no_grad()
def segment(model, images, T=None, k=OBJECTS + 1, seed=SEED):
    """Cluster the final per-token features of ``model`` (run with ``T`` steps per block, default
    its training value) into ``k`` groups, upsampled to image size."""
    feats = model.features(images, T=T, generator=torch.Generator().manual_seed(seed))
    return cluster_features(feats, k, size=images.shape[-2:])


def segment_colours(images, k=OBJECTS + 1):
    """The no-learning reference: cluster the mean colour of every patch of the models' grid."""
    return cluster_features(F.avg_pool2d(images, CONFIG["patch"]), k, size=images.shape[-2:])


def score(masks, pred):
    """Mean FG-ARI and MBO over images (the paper's two object-discovery metrics)."""
    return {"fg_ari": fg_ari(masks, pred).nanmean().item(), "mbo": mbo(masks, pred).mean().item()}


def main(seeds=SEEDS):
    torch.set_num_threads(2)
    images, _ = object_data(train=True)
    test_images, test_masks = object_data(train=False)
    old = load("akorn_objects") if (HERE / "akorn_objects.pt").exists() and set(seeds) != set(SEEDS) else {}
    out = {"config": CONFIG, "steps": STEPS, "batch": BATCH, "lr": LR, "seeds": SEEDS,
           "eval": {s: r for s, r in old.get("eval", {}).items() if s not in seeds}}
    out.update({name: old[name] for name in ("AKOrN", "ItrSA") if name in old and SEED not in seeds})
    for seed in seeds:
        out["eval"][seed] = {}
        for name, model in object_models(seed).items():
            start = time.time()
            losses = train_simclr(model, images, STEPS, seed=seed, desc=f"{name}, seed {seed}")
            if seed == SEED:
                out[name] = {k: v.clone() for k, v in model.state_dict().items()}
            out["eval"][seed][name] = {**score(test_masks, segment(model, test_images)), "loss": losses[::10]}
            print(f"{name}, seed {seed}: {sum(p.numel() for p in model.parameters())} parameters, "
                  f"{time.time() - start:.0f} s,", {k: round(v, 4) for k, v in out["eval"][seed][name].items() if k != "loss"})
    print("saved", save(out, "akorn_objects"))


if __name__ == "__main__":
    args = sys.argv[1:]
    main(seeds=tuple(int(a) for a in args[args.index("--seeds") + 1:]) if "--seeds" in args else SEEDS)
