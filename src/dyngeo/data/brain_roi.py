"""A synthetic "brain" region of interest for representational similarity analysis (a stand-in for the
BOLD5000 RDMs of Pickard et al. 2023, which are a download).

The stimuli are images of scikit-learn's digits (they ship with the package), grouped into five
"super-categories" named after the paper's Table 1, with its sizes scaled down (646, 96, 128, 912, 134
times ``scale``). A stimulus's voxel pattern is

    pattern = category · P[c] + visual · W x + item · ε_item   (+ subject · ε_subject for each subject)

with P[c] a super-category prototype (animate categories share a component, as do inanimate ones), W x a
fixed random projection of the image (the low-level "visual" part that networks can also see), ε_item
the stimulus's own idiosyncrasy (shared by subjects) and ε_subject each subject's measurement noise. The
mean subject averages the subjects' patterns. ``label_noise`` gives a fraction of stimuli the prototype
of another category (like the paper's "artifact" photographs with people in them).
"""

from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["SUPERCATEGORIES", "TABLE1_SIZES", "DIGIT_GROUPS", "BrainROI", "brain_roi"]

SUPERCATEGORIES = ("vertebrate", "invertebrate", "natural object", "artifact", "place")
TABLE1_SIZES = (646, 96, 128, 912, 134)  # images per super-category in the paper's Table 1
DIGIT_GROUPS = ((0, 6), (1,), (7,), (2, 3, 5, 8), (4, 9))  # the digits that stand in for each super-category
ANIMATE = (True, True, False, False, False)


@dataclass
class BrainROI:
    """``images [m, 64]`` float32 in [0, 1], ``digits [m]`` and ``labels [m]`` (super-category) int64, the
    voxel patterns ``subjects [S, m, v]`` and their ``mean [m, v]`` (float64), the ``names`` of the
    super-categories, ``index [m]`` the rows of ``sklearn.datasets.load_digits`` used as stimuli, and
    ``noisy [m]`` (bool) the stimuli given another category's prototype. Stimuli are sorted by label."""
    images: torch.Tensor
    digits: torch.Tensor
    labels: torch.Tensor
    subjects: torch.Tensor
    mean: torch.Tensor
    names: tuple
    index: np.ndarray
    noisy: np.ndarray


def brain_roi(scale=0.1, n_voxels=300, n_subjects=3, category=1.0, visual=1.0, item=3.0, subject=6.0,
              label_noise=0.0, seed=0):
    """The synthetic ROI described in the module docstring. With ``scale=0.1`` there are
    65 + 10 + 13 + 91 + 13 = 192 stimuli. ``seed`` fixes the stimuli, prototypes and noise."""
    from sklearn.datasets import load_digits

    if not 0 < scale <= 0.2:
        raise ValueError(f"scale must be in (0, 0.2] (the digits have about 180 images per class); got {scale}")
    if n_subjects < 1 or n_voxels < 2 or not 0 <= label_noise < 1:
        raise ValueError("need n_subjects >= 1, n_voxels >= 2 and 0 <= label_noise < 1")
    rng = np.random.default_rng(seed)
    X, y = load_digits(return_X_y=True)
    sizes = [max(2, int(round(s * scale))) for s in TABLE1_SIZES]
    index, labels = [], []
    for c, (size, group) in enumerate(zip(sizes, DIGIT_GROUPS)):
        pool = rng.permutation(np.flatnonzero(np.isin(y, group)))
        index.append(pool[:size])
        labels += [c] * size
    index, labels = np.concatenate(index), np.asarray(labels)
    images = X[index] / 16.0
    m, C = len(index), len(SUPERCATEGORIES)

    shared = rng.normal(size=(2, n_voxels))  # animate, inanimate
    own = rng.normal(size=(C, n_voxels))
    protos = (0.6 * shared[[0 if a else 1 for a in ANIMATE]] + 0.8 * own)
    W = rng.normal(size=(64, n_voxels)) / 8.0
    proto_of = labels.copy()
    noisy = rng.random(m) < label_noise
    proto_of[noisy] = (labels[noisy] + rng.integers(1, C, noisy.sum())) % C
    base = (category * protos[proto_of] + visual * (images - images.mean(0)) @ W * 4.0
            + item * rng.normal(size=(m, n_voxels)))
    subjects = base[None] + subject * rng.normal(size=(n_subjects, m, n_voxels))
    return BrainROI(images=torch.as_tensor(images, dtype=torch.float32), digits=torch.as_tensor(y[index]),
                    labels=torch.as_tensor(labels), subjects=torch.as_tensor(subjects),
                    mean=torch.as_tensor(subjects.mean(0)), names=SUPERCATEGORIES, index=index, noisy=noisy)
