"""Train the models of Part II's chapter "Lift, map, detect" on in-distribution digits (classes 0–4) and save them.

``python -m dyngeo.checkpoints.make_diffusion_ood`` writes ``diffusion_ood.pt`` with three networks, all
trained only on the training images of digits 0–4 from ``dyngeo.data.digits()`` (8×8, seed 0 split):

- ``ddpm``: a :class:`~dyngeo.models.unet.TinyUNet` ε-network trained with L_simple on images scaled to
  [-1, 1], linear schedule with ``T = 200`` (DDPM's 1e-4..0.02 at T = 1000, rescaled by 1000/T), Adam with a
  cosine learning-rate decay; the exponential moving average of its weights (decay 0.999) is what is saved,
  as in DDPM;
- ``ae``: an MLP autoencoder (64 → 128 → 16 → 128 → 64, sigmoid output) trained with MSE on [0, 1] pixels,
  for the AE-MSE baseline;
- ``cnn``: a small CNN classifier of the five in-distribution classes; its penultimate layer gives the
  features of the Mahalanobis baseline and of the "perceptual" distance that stands in for LPIPS.

About 20 minutes on one thread of a busy 2-core machine (8,000 DDPM steps dominate).
"""

import copy

import torch
import torch.nn.functional as F
from torch import nn

from dyngeo.checkpoints import load, save
from dyngeo.data import digits
from dyngeo.models.diffusion import Schedule, simple_loss
from dyngeo.models.unet import TinyUNet
from dyngeo.train import cosine_schedule, progress

CONFIG = {"unet": {"channels": 1, "base": 16, "mults": (1, 2), "time_dim": 32},
          "T": 200, "beta_start": 1e-4 * 1000 / 200, "beta_end": 0.02 * 1000 / 200,
          "in_classes": (0, 1, 2, 3, 4), "steps": 8000, "batch": 128, "lr": 2e-3, "ema": 0.999,
          "ae_steps": 3000, "cnn_steps": 600, "seed": 0}


class AutoEncoder(nn.Module):
    """An MLP autoencoder on flat 8×8 images in [0, 1]: 64 → 128 → ``code`` → 128 → 64 (sigmoid)."""

    def __init__(self, dim=64, hidden=128, code=16):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(dim, hidden), nn.SiLU(), nn.Linear(hidden, code))
        self.decoder = nn.Sequential(nn.Linear(code, hidden), nn.SiLU(), nn.Linear(hidden, dim), nn.Sigmoid())

    def forward(self, x):
        return self.decoder(self.encoder(x.flatten(1))).view_as(x)


class FeatureCNN(nn.Module):
    """A small classifier of 8×8 images: two convolutions, a 64-unit feature layer, ``classes`` logits.
    ``features(x)`` returns the list of activations (conv maps and the feature vector)."""

    def __init__(self, classes=5, width=16, feature_dim=64):
        super().__init__()
        self.conv1 = nn.Conv2d(1, width, 3, padding=1)
        self.conv2 = nn.Conv2d(width, 2 * width, 3, stride=2, padding=1)
        self.fc = nn.Linear(2 * width * 16, feature_dim)
        self.head = nn.Linear(feature_dim, classes)

    def features(self, x):
        a1 = F.relu(self.conv1(x))
        a2 = F.relu(self.conv2(a1))
        return [a1, a2, F.relu(self.fc(a2.flatten(1)))]

    def forward(self, x):
        return self.head(self.features(x)[-1])


def schedule(config=CONFIG):
    return Schedule.linear(config["T"], config["beta_start"], config["beta_end"])


def in_distribution(config=CONFIG):
    """``(X_train, y_train, X_test, y_test)`` of the in-distribution classes, images ``[N, 1, 8, 8]`` in [0, 1]."""
    Xtr, ytr, Xte, yte = digits()
    keep_tr = torch.isin(ytr, torch.tensor(config["in_classes"]))
    keep_te = torch.isin(yte, torch.tensor(config["in_classes"]))
    return Xtr[keep_tr].view(-1, 1, 8, 8), ytr[keep_tr], Xte[keep_te].view(-1, 1, 8, 8), yte[keep_te]


def train_ddpm(X, config=CONFIG, steps=None, generator=None):
    """L_simple with Adam and a cosine decay; returns the EMA copy of the network and the loss curve."""
    steps = config["steps"] if steps is None else steps
    model = TinyUNet(**config["unet"])
    ema = copy.deepcopy(model).requires_grad_(False)
    opt = torch.optim.Adam(model.parameters(), lr=config["lr"])
    sched = torch.optim.lr_scheduler.LambdaLR(opt, cosine_schedule(steps))
    sch, x0 = schedule(config), 2 * X - 1
    losses = []
    for step in progress(range(steps), desc="DDPM"):
        idx = torch.randint(len(x0), (config["batch"],), generator=generator)
        loss = simple_loss(model, x0[idx], sch, generator=generator)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        with torch.no_grad():
            for p_ema, p in zip(ema.parameters(), model.parameters()):
                p_ema.lerp_(p, 1 - config["ema"])
        losses.append(loss.item())
    return ema, losses


def train_ae(X, config=CONFIG, steps=None):
    steps = config["ae_steps"] if steps is None else steps
    ae = AutoEncoder()
    opt = torch.optim.Adam(ae.parameters(), lr=2e-3)
    for _ in progress(range(steps), desc="AE"):
        opt.zero_grad(set_to_none=True)
        loss = F.mse_loss(ae(X), X)
        loss.backward()
        opt.step()
    return ae, loss.item()


def train_cnn(X, y, config=CONFIG, steps=None, generator=None):
    steps = config["cnn_steps"] if steps is None else steps
    cnn = FeatureCNN(classes=len(config["in_classes"]))
    opt = torch.optim.Adam(cnn.parameters(), lr=3e-3)
    for _ in progress(range(steps), desc="CNN"):
        idx = torch.randint(len(X), (128,), generator=generator)
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(cnn(X[idx]), y[idx])
        loss.backward()
        opt.step()
    return cnn, loss.item()


def load_models(checkpoint=None):
    """The three trained networks (in eval mode) and the schedule, from ``diffusion_ood.pt``."""
    ck = load("diffusion_ood") if checkpoint is None else checkpoint
    config = ck["config"]
    ddpm = TinyUNet(**config["unet"])
    ddpm.load_state_dict(ck["ddpm"])
    ae = AutoEncoder()
    ae.load_state_dict(ck["ae"])
    cnn = FeatureCNN(classes=len(config["in_classes"]))
    cnn.load_state_dict(ck["cnn"])
    return ddpm.eval(), ae.eval(), cnn.eval(), schedule(config)


def main():
    torch.set_num_threads(1)
    torch.manual_seed(CONFIG["seed"])
    g = torch.Generator().manual_seed(CONFIG["seed"])
    Xtr, ytr, Xte, yte = in_distribution()
    ddpm, losses = train_ddpm(Xtr, generator=g)
    ae, ae_loss = train_ae(Xtr)
    cnn, cnn_loss = train_cnn(Xtr, ytr, generator=g)
    with torch.no_grad():
        acc = (cnn(Xte).argmax(1) == yte).float().mean().item()
        ae_test = F.mse_loss(ae(Xte), Xte).item()
    print(f"DDPM final L_simple (mean of last 200 steps) {sum(losses[-200:]) / 200:.4f}; "
          f"AE train/test MSE {ae_loss:.4f}/{ae_test:.4f}; CNN test accuracy on digits 0-4 {acc:.3f}")
    state = lambda m: {k: v.detach().clone() for k, v in m.state_dict().items()}
    out = {"config": {**CONFIG, "unet": {**CONFIG["unet"], "mults": list(CONFIG["unet"]["mults"])},
                      "in_classes": list(CONFIG["in_classes"])},
           "ddpm": state(ddpm), "ae": state(ae), "cnn": state(cnn),
           "loss_curve": torch.tensor(losses[::20]), "cnn_test_accuracy": acc, "ae_test_mse": ae_test}
    print(f"wrote {save(out, 'diffusion_ood')}")


if __name__ == "__main__":
    main()
