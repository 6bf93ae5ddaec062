"""The trained models of Part II's chapter "Densities on image manifolds" (Tu et al. 2023).

``python -m dyngeo.checkpoints.make_image_manifold_densities`` writes ``image_manifold_densities.pt``
(weights stored in float16 to stay under 1 MB), for the seeds 0, 1, 2:

- ``eps``: an ε-network (:class:`dyngeo.models.diffusion.EpsMLP`) trained with L_simple on the 2-D
  Swiss roll, T = 100, linear schedule (:func:`schedule`);
- ``flow``: a :class:`dyngeo.models.flows.RealNVP` trained by maximum likelihood on the same roll;
- ``grid``: a :class:`dyngeo.models.gridvae.GridVAE` with a 2-D latent and the 6 × 6 grid prior on
  two-digit images (digits 0-5, 8 × 16 pixels);
- ``clf``: a :class:`dyngeo.models.gridvae.VAEClassifier` (8-D latent, λ = LAM) on the 8 × 8 digits;

and, for seed 0 only, ``round`` and ``guided``: GridVAEs with a 6-D latent and the rounding KL
(eq. 28) on the 8 × 8 digits, unsupervised and guided by three synthetic attributes on the first
three coordinates. The chapter and the tests import the builders below.
"""

import torch

from dyngeo.checkpoints import load, save
from dyngeo.models.diffusion import EpsMLP, Schedule, simple_loss
from dyngeo.models.flows import RealNVP
from dyngeo.models.gridvae import GridVAE, VAEClassifier, two_digit_images
from dyngeo.train import cosine_schedule, fit

SEEDS = (0, 1, 2)
T = 100
LAM = 4.0
ROUND_DIM, SIGMA0 = 6, 0.25
ATTRIBUTES = ("digit >= 5", "even", "has a loop")
LOOPS = (0, 6, 8, 9)


def point_set(name, n=1000, seed=0):
    """A 2-D point set of scikit-learn, scaled to about [-1.5, 1.5]: ``swiss_roll`` (columns 0 and 2, / 10),
    ``circles``, ``moons`` (centred), ``s_curve`` (columns 0 and 2, / 1.5). ``[n, 2]`` float32."""
    from sklearn import datasets

    if name == "swiss_roll":
        X = datasets.make_swiss_roll(n, noise=0.5, random_state=seed)[0][:, [0, 2]] / 10
    elif name == "circles":
        X = datasets.make_circles(n, noise=0.03, factor=0.5, random_state=seed)[0] * 1.2
    elif name == "moons":
        X = datasets.make_moons(n, noise=0.05, random_state=seed)[0] - [0.5, 0.25]
    elif name == "s_curve":
        X = datasets.make_s_curve(n, noise=0.05, random_state=seed)[0][:, [0, 2]] / 1.5
    else:
        raise ValueError(f"unknown point set {name!r}; use swiss_roll, circles, moons or s_curve")
    return torch.as_tensor(X, dtype=torch.float32)


def schedule():
    """DDPM's linear schedule stretched to T = 100 steps (β from 1e-3 to 0.2, ᾱ_{T-1} ≈ 4e-5). The cosine
    schedule's last step (β capped at 0.999) jumps from σ ≈ 64 to σ ≈ 2000, one step that RK4 on the
    probability-flow ODE cannot take with a learned ε."""
    return Schedule.linear(T, 1e-3, 0.2)


def eps_model():
    return EpsMLP(2, hidden=64, depth=3, time_dim=16)


def flow_model():
    return RealNVP(2, n_layers=6, hidden=48)


def digit_data(seed=0):
    """sklearn digits split 75/25: ``(X_train [N, 8, 8], y_train, X_test, y_test)``."""
    from dyngeo.data.images import digits

    Xtr, ytr, Xte, yte = digits(seed=seed)
    return Xtr.reshape(-1, 8, 8), ytr, Xte.reshape(-1, 8, 8), yte


def pair_data(n_train=6000, n_test=1000):
    """Two-digit images from the training and the test digits (so no test digit is seen in training)."""
    Xtr, ytr, Xte, yte = digit_data()
    train = two_digit_images(Xtr, ytr, n_train, seed=1)
    test = two_digit_images(Xte, yte, n_test, seed=2)
    return train, test


def grid_model():
    return GridVAE(128, 2, hidden=(128, 64))


def attributes(y):
    """Three synthetic binary attributes of digit labels: ``>= 5``, even, has a closed loop."""
    y = torch.as_tensor(y)
    return torch.stack([(y >= 5), (y % 2 == 0), torch.isin(y, torch.tensor(LOOPS))], 1).float()


def round_model():
    return GridVAE(64, ROUND_DIM, prior="round", sigma0=SIGMA0, hidden=(128, 64))


def clf_model():
    return VAEClassifier(64, 8, 10, hidden=(128, 64))


def _batches(n, size, g):
    return lambda: torch.randint(n, (size,), generator=g)


def train_eps(seed, steps=3000):
    torch.manual_seed(seed)
    model, sch, g = eps_model(), schedule(), torch.Generator().manual_seed(seed)
    data = point_set("swiss_roll", 4000, seed=100 + seed)
    pick = _batches(len(data), 512, g)
    fit(model, lambda m: simple_loss(m, data[pick()], sch, generator=g), steps, lr=2e-3,
        schedule=cosine_schedule(steps), desc=f"ε-network, seed {seed}")
    return model.eval()


def train_flow(seed, steps=2500):
    torch.manual_seed(seed)
    model, g = flow_model(), torch.Generator().manual_seed(seed)
    data = point_set("swiss_roll", 4000, seed=100 + seed)
    pick = _batches(len(data), 512, g)
    fit(model, lambda m: -m.log_prob(data[pick()]).mean(), steps, lr=3e-3,
        schedule=cosine_schedule(steps), desc=f"RealNVP, seed {seed}")
    return model.eval()


def train_grid(seed, steps=4000):
    torch.manual_seed(seed)
    (x, _, _), _ = pair_data()
    x = x.flatten(1)
    model, g = grid_model(), torch.Generator().manual_seed(seed)
    pick = _batches(len(x), 256, g)
    fit(model, lambda m: -m.elbo(x[pick()], generator=g).mean(), steps, lr=2e-3, desc=f"GridVAE, seed {seed}")
    return model.eval()


def train_round(guided, steps=4000, seed=0):
    torch.manual_seed(seed)
    Xtr, ytr, _, _ = digit_data()
    x = Xtr.flatten(1)
    target = torch.full((len(x), ROUND_DIM), float("nan"))
    target[:, :3] = attributes(ytr)
    model, g = round_model(), torch.Generator().manual_seed(seed)
    pick = _batches(len(x), 256, g)

    def loss(m):
        i = pick()
        return -m.elbo(x[i], generator=g, target=target[i] if guided else None).mean()

    fit(model, loss, steps, lr=2e-3, desc=f"rounding-KL VAE, {'guided' if guided else 'unsupervised'}")
    return model.eval()


def train_clf(seed, steps=4000):
    torch.manual_seed(seed)
    Xtr, ytr, _, _ = digit_data()
    x = Xtr.flatten(1)
    model, g = clf_model(), torch.Generator().manual_seed(seed)
    pick = _batches(len(x), 256, g)

    def loss(m):
        i = pick()
        return m.loss(x[i], ytr[i], lam=LAM, generator=g)

    fit(model, loss, steps, lr=2e-3, desc=f"VAE-classifier, seed {seed}")
    return model.eval()


def _half(model):
    return {k: v.half() if v.is_floating_point() else v for k, v in model.state_dict().items()}


BUILDERS = {"eps": eps_model, "flow": flow_model, "grid": grid_model, "clf": clf_model, "round": round_model,
            "guided": round_model}


def models(kind, checkpoint=None):
    """The stored models of one ``kind`` (a list over seeds, in float32, in eval mode)."""
    checkpoint = checkpoint if checkpoint is not None else load("image_manifold_densities")
    out = []
    for state in checkpoint[kind]:
        m = BUILDERS[kind]()
        m.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
        out.append(m.eval())
    return out


TRAIN = {"eps": lambda: [_half(train_eps(s)) for s in SEEDS], "flow": lambda: [_half(train_flow(s)) for s in SEEDS],
         "grid": lambda: [_half(train_grid(s)) for s in SEEDS], "clf": lambda: [_half(train_clf(s)) for s in SEEDS],
         "round": lambda: [_half(train_round(False))], "guided": lambda: [_half(train_round(True))]}


def main(kinds=None):
    """Train every kind of model (or only ``kinds``, keeping the others of the stored checkpoint) and save."""
    torch.set_num_threads(1)
    out = load("image_manifold_densities") if kinds else {}
    for kind in kinds or TRAIN:
        out[kind] = TRAIN[kind]()
    print(save(out, "image_manifold_densities"))


if __name__ == "__main__":
    import sys

    main(sys.argv[1:] or None)
