"""Train the DAE-G / DAE-OG study of chapter 14: ``python -m dyngeo.checkpoints.make_dae_og``.

Two data sets from :func:`dyngeo.data.shapes3d.shapes3d` at 16×16 pixels, with the paper's attribute
counts (Sec. 4.1.3): *three attributes* (object hue 6, wall hue 9, scale 5: the 270 scenes, four jittered
copies each) with ``n_out = 96``, ``n_k = (6, 9, 5)``, ``α1 = α2 = 0.1``; *five attributes* (orientation 15,
scale 8, wall hue 10, object hue 10, shape 2: 1,500 scenes drawn from the 24,000) with ``n_out = 105``,
``n_k = (15, 8, 10, 10, 2)``, ``α1 = α2 = 0.001``. Graph loss with k = 1, ``λ = 0.1``. DAE-G is the same run
with ``α1 = 0``. The book's scale: an MLP encoder/decoder with 128 hidden units (Table 1's attribute
autoencoders unchanged), 800 Adam steps of 64 images, learning rate 1e-3 with cosine decay, three seeds
each (the seed sets the initialisation and the minibatches).

Stored per run: the loss history (every 10th step) and, on the whole data set, the reconstruction MSE and
PSNR, the Fréchet distance between the features of a small factor-classifying CNN (trained once per data
set, seed 0) on 1,000 real and 1,000 generated images (the offline FID stand-in), the graph statistic t
between 256 real and 256 generated images, the four disentanglement scores of the attribute codes, the
mean |cosine| between chunks, and the chunk-swap matrix (how often swapping chunk i of one image into
another changes the CNN's reading of each factor). For seed 0 also pictures (uint8): reconstructions,
generations, per-chunk traversals, and the attribute codes of 300 images (for the PCA plots).

``run(config, alpha_orth, seed, steps)`` is imported by the chapter and by ``tests/test_dae_og.py``,
which rerun the first steps of a stored run and compare the loss history.
"""

import time

import torch

from dyngeo.checkpoints import save
from dyngeo.data.shapes3d import shapes3d
from dyngeo.metrics.disentanglement import scores
from dyngeo.metrics.distributions import frechet_distance
from dyngeo.metrics.images import psnr
from dyngeo.metrics.two_sample import t_statistic
from dyngeo.models.dae_og import DAEOG, chunk_gram, train_dae, train_factor_cnn

SEEDS = (0, 1, 2)
STEPS, BATCH, LR, WIDTH, LAM = 800, 64, 1e-3, 128, 0.1
CONFIGS = {
    "three": dict(factors={"object_hue": 6, "wall_hue": 9, "scale": 5}, n=1080, jitter=0.5, n_out=96,
                  n_ks=(6, 9, 5), alpha=0.1),
    "five": dict(factors={"orientation": 15, "scale": 8, "wall_hue": 10, "object_hue": 10, "shape": 2},
                 n=1500, jitter=0.0, n_out=105, n_ks=(15, 8, 10, 10, 2), alpha=0.001),
}


def dataset(config):
    """``(X, F, names)`` of a configuration (seed 0)."""
    c = CONFIGS[config]
    return shapes3d(c["factors"], n=c["n"], size=16, seed=0, jitter=c["jitter"])


def build(config, seed):
    """The network of ``config`` initialised from ``seed``."""
    c = CONFIGS[config]
    torch.manual_seed(seed)
    return DAEOG((3, 16, 16), c["n_out"], c["n_ks"], width=WIDTH)


def run(config, orth, seed, stop=None, X=None):
    """Train DAE-OG (``orth=True``, α1 = α2) or DAE-G (``orth=False``, α1 = 0) on ``config`` (``stop``: only
    the first steps of that run); returns ``(model, history)``."""
    c = CONFIGS[config]
    X = dataset(config)[0] if X is None else X
    model = build(config, seed)
    history = train_dae(model, X, steps=STEPS, stop=stop, batch=BATCH, alpha_orth=c["alpha"] if orth else 0.0,
                        alpha_stat=c["alpha"], lam=LAM, lr=LR, seed=seed, desc=f"{config} {'OG' if orth else 'G'} {seed}")
    return model, history


def _u8(x):
    return (x.clamp(0, 1) * 255).round().to(torch.uint8)


@torch.no_grad()
def swap_matrix(model, X, cnn, n=400, seed=0):
    """``S[i, f]``: fraction of image pairs (A, B) whose factor ``f`` (as read by ``cnn``) changes when chunk
    ``i`` of A's code is replaced by B's (among pairs where A and B differ in ``f``)."""
    gen = torch.Generator().manual_seed(seed)
    ia, ib = torch.randint(0, X.shape[0], (2, n), generator=gen)
    za, zb = model.encode(X[ia]), model.encode(X[ib])
    pa = [lg.argmax(1) for lg in cnn(model.g(za))]
    pb = [lg.argmax(1) for lg in cnn(model.g(zb))]
    d = model.n_out // model.k
    S = torch.zeros(model.k, len(pa))
    for i in range(model.k):
        z = za.clone()
        z[:, i * d:(i + 1) * d] = zb[:, i * d:(i + 1) * d]
        ps = [lg.argmax(1) for lg in cnn(model.g(z))]
        for f in range(len(pa)):
            differ = pa[f] != pb[f]
            S[i, f] = ((ps[f] != pa[f]) & differ).float().sum() / differ.float().sum().clamp_min(1)
    return S


@torch.no_grad()
def traversal(model, X, F, steps=7):
    """For each chunk i, the images decoded from the code of A = X[0] with chunk i moved linearly to that of
    B = X[1] (two random scenes), the other chunks kept: ``[k, steps, 3, H, W]``."""
    za, zb = model.encode(X[:1]), model.encode(X[1:2])
    d = model.n_out // model.k
    out = []
    for i in range(model.k):
        ts = torch.linspace(0, 1, steps)[:, None]
        z = za.repeat(steps, 1)
        z[:, i * d:(i + 1) * d] = (1 - ts) * za[:, i * d:(i + 1) * d] + ts * zb[:, i * d:(i + 1) * d]
        out.append(model.g(z))
    return torch.stack(out)


@torch.no_grad()
def evaluate(model, X, F, cnn, real_feats, seed=0):
    """The stored numbers of one trained model (see the module docstring)."""
    gen = torch.Generator().manual_seed(1000 + seed)
    xr, z = model(X)
    mse = float(((xr - X) ** 2).mean())
    codes = torch.cat(model.attribute_codes(z), 1)
    xg = model.generate(1000, generator=gen)
    fd = frechet_distance(real_feats, cnn.features(xg))
    idx = torch.randperm(X.shape[0], generator=gen)[:256]
    t = float(t_statistic(X[idx].flatten(1), xg[:256].flatten(1), LAM))
    G = chunk_gram(z, model.k)
    off = ~torch.eye(model.k, dtype=torch.bool)
    cos = float(G[:, off].abs().mean())
    out = dict(mse=mse, psnr=float(psnr(xr, X)), fd=fd, t=t, cos=cos, **scores(codes, F))
    out["swap"] = swap_matrix(model, X, cnn, seed=seed)
    return out, xr, xg, codes


def main():
    torch.set_num_threads(1)
    start = time.time()
    result = {"seeds": list(SEEDS), "steps": STEPS, "batch": BATCH, "lr": LR, "width": WIDTH, "lam": LAM}
    for config in CONFIGS:
        X, F, names = dataset(config)
        cnn, acc = train_factor_cnn(X, F, steps=300, seed=0)
        with torch.no_grad():
            real_feats = cnn.features(X[:1000])
            # the same distance between two halves of the real data: the floor the generators compete with
            half = X.shape[0] // 2
            floor = frechet_distance(cnn.features(X[:half]), cnn.features(X[half:]))
        entry = {"names": names, "cnn_acc": acc, "fd_real": floor, "runs": {}}
        for orth in (False, True):
            for seed in SEEDS:
                model, hist = run(config, orth, seed, X=X)
                metrics, xr, xg, codes = evaluate(model, X, F, cnn, real_feats, seed)
                metrics["history"] = {k: torch.tensor(v[::10]) for k, v in hist.items()}
                if seed == 0:
                    order = torch.arange(0, X.shape[0], max(1, X.shape[0] // 300))[:300]
                    metrics["pictures"] = {"recon": _u8(xr[:10]), "real": _u8(X[:10]), "samples": _u8(xg[:10]),
                                           "traversal": _u8(traversal(model, X, F)),
                                           "codes": codes[order].half(), "factors": F[order]}
                entry["runs"][("OG" if orth else "G", seed)] = metrics
                print(config, "OG" if orth else "G", seed, {k: round(v, 4) for k, v in metrics.items()
                                                             if isinstance(v, float)}, flush=True)
        entry["runs"] = {f"{m}{s}": v for (m, s), v in entry["runs"].items()}
        result[config] = entry
    result["seconds"] = time.time() - start
    print(save(result, "dae_og"), f"{result['seconds']:.0f} s")


if __name__ == "__main__":
    main()
