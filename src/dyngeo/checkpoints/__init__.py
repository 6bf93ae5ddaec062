"""Small trained checkpoints shipped with the book, and the scripts that make them.

Each ``make_<name>.py`` in this folder trains one checkpoint and writes ``<name>.pt`` beside it
(``make checkpoints`` reruns them all). ``load(name)`` returns what the script saved.
"""

import pathlib

import torch

HERE = pathlib.Path(__file__).parent


def load(name, map_location="cpu"):
    """Load the checkpoint ``<name>.pt`` shipped in this folder (tensors and plain Python values)."""
    path = HERE / f"{name}.pt"
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint {name!r}: run `make checkpoints` (looked for {path})")
    return torch.load(path, map_location=map_location, weights_only=True)


def save(obj, name):
    """Save a checkpoint (called by the ``make_<name>.py`` scripts)."""
    path = HERE / f"{name}.pt"
    torch.save(obj, path)
    return path
