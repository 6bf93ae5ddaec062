"""The papers' data sets read from their standard on-disk formats, and stand-ins for ``--smoke``.

- MNIST and Fashion-MNIST: the idx files (``train-images-idx3-ubyte`` ...; gzipped or not) in
  torchvision's layout ``ROOT/MNIST/raw/`` and ``ROOT/FashionMNIST/raw/``.
- CIFAR-10: the python batches ``ROOT/cifar-10-batches-py/{data_batch_1..5,test_batch}``.
- 9x9 Sudoku: the SATNet boards (Wang et al. 2019; the in-distribution set of AKOrN's Table 3),
  ``ROOT/sudoku/{features,labels}.pt``: one-hot ``[10000, 9, 9, 9]`` tensors, blanks all zero; the
  first 9,000 boards train, the last 1,000 test (SATNet's split).

torchvision is not required. When it imports, it is used to download a missing MNIST-family or
CIFAR-10 set into ``ROOT`` first; otherwise, or offline, a missing file raises
:class:`MissingDataError` naming the file and the shell command that fetches it. Nothing here ever
falls back to other data silently: the stand-ins are returned only when asked for (``--smoke``).
"""

import gzip
import os
import pickle
from pathlib import Path

import numpy as np
import torch

from dyngeo.data.sudoku import is_valid, make_puzzles

_IDX = {"mnist": ("MNIST", "https://ossci-datasets.s3.amazonaws.com/mnist"),
        "fashion-mnist": ("FashionMNIST", "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com")}
_IDX_FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
              "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
_CIFAR_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
_SUDOKU_URL = "https://powei.tw/sudoku.zip"
DATASETS = ("mnist", "fashion-mnist", "cifar10", "sudoku9")
SHAPES = {"mnist": (1, 28, 28), "fashion-mnist": (1, 28, 28), "cifar10": (3, 32, 32), "sudoku9": (9, 9)}


class MissingDataError(FileNotFoundError):
    """A data file the experiment needs is not under ``--data-root``; the message says how to fetch it."""


def fetch_command(name, root):
    """The shell command that puts data set ``name`` into ``root`` in the layout read here."""
    root = str(root)
    if name in _IDX:
        folder, url = _IDX[name]
        files = " ".join(f"{url}/{f}.gz" for pair in _IDX_FILES.values() for f in pair)
        return f"mkdir -p {root}/{folder}/raw && cd {root}/{folder}/raw && for u in {files}; do curl -fLO $u; done"
    if name == "cifar10":
        return f"mkdir -p {root} && curl -fL {_CIFAR_URL} | tar -xz -C {root}"
    if name == "sudoku9":
        return f"mkdir -p {root} && cd {root} && curl -fLO {_SUDOKU_URL} && unzip -q sudoku.zip"
    raise ValueError(f"unknown data set {name!r}; choose one of {DATASETS}")


def _missing(name, root, path):
    return MissingDataError(
        f"{name}: {path} is missing (looked under --data-root {root}). Fetch it with:\n  {fetch_command(name, root)}"
        + ("\n(or `pip install torchvision` and rerun: it downloads into --data-root when a network is available)"
           if name != "sudoku9" else ""))


def _try_torchvision(name, root):
    """Download with torchvision when it imports and a network answers; quietly do nothing otherwise
    (the caller then raises MissingDataError for the file that is still missing)."""
    try:
        from torchvision import datasets
    except Exception:
        return
    cls = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST", "cifar10": "CIFAR10"}[name]
    for train in (True, False):
        try:
            getattr(datasets, cls)(str(root), train=train, download=True)
        except Exception as error:  # offline: report the missing file instead
            print(f"torchvision could not download {name} ({type(error).__name__}: {error})")
            return


def read_idx(path):
    """An idx array (LeCun's MNIST format, gzipped or not) as a numpy array."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    if raw[:2] != b"\x00\x00" or raw[2] != 0x08:
        raise ValueError(f"{path} is not an unsigned-byte idx file (magic {raw[:4].hex()})")
    ndim = raw[3]
    dims = np.frombuffer(raw, dtype=">i4", count=ndim, offset=4)
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise ValueError(f"{path}: header says {tuple(dims)} but holds {data.size} bytes")
    return data.reshape(tuple(int(d) for d in dims))


def _find_idx(name, root, stem):
    folder = Path(root) / _IDX[name][0] / "raw"
    for candidate in (folder / stem, folder / f"{stem}.gz"):
        if candidate.exists():
            return candidate
    return None


def load_idx_set(name, root):
    """MNIST or Fashion-MNIST: ``(X_train, y_train, X_test, y_test)``, images ``[N, 1, 28, 28]`` in [0, 1]."""
    root = Path(os.path.expanduser(str(root)))
    stems = [s for pair in _IDX_FILES.values() for s in pair]
    if any(_find_idx(name, root, s) is None for s in stems):
        _try_torchvision(name, root)
    out = []
    for split in ("train", "test"):
        images, labels = (_find_idx(name, root, s) for s in _IDX_FILES[split])
        for stem, found in zip(_IDX_FILES[split], (images, labels)):
            if found is None:
                raise _missing(name, root, root / _IDX[name][0] / "raw" / stem)
        X = torch.from_numpy(read_idx(images).copy()).float().div_(255).unsqueeze(1)
        y = torch.from_numpy(read_idx(labels).astype(np.int64))
        if len(X) != len(y):
            raise ValueError(f"{name} {split}: {len(X)} images but {len(y)} labels")
        out += [X, y]
    return tuple(out)


def load_cifar10(root):
    """CIFAR-10 from its python batches: ``(X_train, y_train, X_test, y_test)``, ``[N, 3, 32, 32]`` in [0, 1]."""
    root = Path(os.path.expanduser(str(root)))
    folder = root / "cifar-10-batches-py"
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    if any(not (folder / n).exists() for n in names):
        _try_torchvision("cifar10", root)
    parts = []
    for n in names:
        if not (folder / n).exists():
            raise _missing("cifar10", root, folder / n)
        with open(folder / n, "rb") as f:
            batch = pickle.load(f, encoding="bytes")
        X = torch.from_numpy(np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32).copy())
        parts.append((X.float().div_(255), torch.as_tensor(batch[b"labels"], dtype=torch.long)))
    Xtr, ytr = torch.cat([p[0] for p in parts[:5]]), torch.cat([p[1] for p in parts[:5]])
    return Xtr, ytr, parts[5][0], parts[5][1]


def load_sudoku9(root, n_train=9000):
    """The SATNet 9x9 boards: ``(puzzles_train, solutions_train, puzzles_test, solutions_test)``,
    ``[N, 9, 9]`` int64 with 0 for a blank."""
    root = Path(os.path.expanduser(str(root)))
    folder = root / "sudoku"
    boards = []
    for n in ("features.pt", "labels.pt"):
        if not (folder / n).exists():
            raise _missing("sudoku9", root, folder / n)
        onehot = torch.load(folder / n, map_location="cpu")
        if onehot.shape[1:] != (9, 9, 9):
            raise ValueError(f"{folder / n}: expected one-hot boards [N, 9, 9, 9]; got {tuple(onehot.shape)}")
        boards.append(torch.where(onehot.sum(-1) > 0, onehot.argmax(-1) + 1, 0).long())
    puzzles, solutions = boards
    if not bool(is_valid(solutions).all()):
        raise ValueError(f"{folder / 'labels.pt'} holds boards that are not valid Sudoku solutions")
    return puzzles[:n_train], solutions[:n_train], puzzles[n_train:], solutions[n_train:]


def load(name, root):
    """Data set ``name`` (one of :data:`DATASETS`) from ``root``: a 4-tuple train/test."""
    if name in _IDX:
        return load_idx_set(name, root)
    if name == "cifar10":
        return load_cifar10(root)
    if name == "sudoku9":
        return load_sudoku9(root)
    raise ValueError(f"unknown data set {name!r}; choose one of {DATASETS}")


# --------------------------------------------------------------------------- stand-ins for --smoke
def sudoku9_solutions(n, seed=0):
    """``n`` random valid 9x9 boards: the pattern ``(3 (r mod 3) + r div 3 + c) mod 9`` shuffled by the
    validity-preserving symmetries (digits, rows within bands, bands, columns within stacks, stacks,
    transposition)."""
    g = torch.Generator().manual_seed(seed)
    r = torch.arange(9)
    base = (3 * (r[:, None] % 3) + r[:, None] // 3 + r[None, :]) % 9  # [9, 9], values 0..8

    def lines():  # a random permutation of 0..8 that keeps bands together
        bands = torch.randperm(3, generator=g)
        return torch.cat([3 * b + torch.randperm(3, generator=g) for b in bands])

    out = []
    for _ in range(n):
        board = base[lines()][:, lines()]
        if torch.rand((), generator=g) < 0.5:
            board = board.T
        out.append(torch.randperm(9, generator=g)[board] + 1)
    return torch.stack(out)


def standin(name, n_train=16, n_test=16, seed=0):
    """Generated data with the real shapes of data set ``name`` (for ``--smoke``; never for results):
    images of class-dependent blobs with uniform noise in [0, 1], or valid Sudoku boards with 31-42
    givens (SATNet's range)."""
    g = torch.Generator().manual_seed(seed)
    if name == "sudoku9":
        sols = sudoku9_solutions(n_train + n_test, seed)
        puzzles, sols = make_puzzles(sols, (31, 42), seed=seed)
        return puzzles[:n_train], sols[:n_train], puzzles[n_train:], sols[n_train:]
    c, h, w = SHAPES[name]
    n = n_train + n_test
    y = torch.arange(n) % 10
    X = 0.3 * torch.rand(n, c, h, w, generator=g)
    rows = (y * (h - 6) // 9)[:, None]
    X[torch.arange(n)[:, None], :, rows + torch.arange(6)[None, :], 4:w - 4] += 0.6  # a bar whose height codes the class
    X = X.clamp(0, 1)
    return X[:n_train], y[:n_train], X[n_train:], y[n_train:]
