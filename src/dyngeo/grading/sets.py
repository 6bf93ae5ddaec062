"""The exercise sets, and which set a notebook or a ``--set`` argument names.

A set is known by its topic: the notebook ``exercises/01-neural-odes.md`` is graded by the module
``dyngeo.grading.neural_odes``. Chapter numbers change when chapters are inserted, so only this
table maps numbers to topics; the checker modules never carry a number.
"""

import importlib
import os
import re

# (chapter number, topic) in book order. Inserting a chapter changes the numbers here and nowhere else.
SETS = [
    ("01", "neural-odes"),
    ("02", "sa-node"),
    ("03", "stable-neural-flows"),
    ("04", "n-code"),
    ("05", "akorn"),
    ("06", "relu-polyhedra"),
    ("07", "on-manifold-attacks"),
    ("08", "schubert-varieties"),
    ("09", "fmri-rdms"),
    ("10", "linear-maps-between-embeddings"),
    ("11", "manifold-adversarial-risk"),
    ("12", "image-manifold-densities"),
    ("13", "diffusion-ood-detection"),
    ("14", "disentanglement-orthogonality"),
    ("15", "data-topology-generative-models"),
    ("16", "meta-learned-manifolds"),
]


class UnknownSet(ValueError):
    """The set cannot be told from a name; the message says what is accepted."""


def module_name(topic):
    return "dyngeo.grading." + topic.replace("-", "_")


def load(topic):
    """The checker module of a set."""
    return importlib.import_module(module_name(topic))


def accepted():
    return ", ".join(f"{n} (ch{int(n)}, ch{n}, {t})" for n, t in SETS)


def from_argument(name):
    """The topic named by ``--set``: ``01``, ``1``, ``ch1``, ``ch01``, ``neural-odes`` or ``neural_odes``."""
    key = name.strip().lower().replace("_", "-")
    number = re.fullmatch(r"(?:ch)?0*(\d+)", key)
    for n, topic in SETS:
        if key == topic or (number and int(number.group(1)) == int(n)):
            return topic
    raise UnknownSet(f"unknown exercise set {name!r}; use one of: {accepted()}")


def from_path(path):
    """The topic of a notebook from its file name, tolerating "Copy of ", " (1)" and other decorations."""
    stem = os.path.splitext(os.path.basename(path))[0].lower()
    stem = re.sub(r"^copy of ", "", stem)
    stem = re.sub(r"\s*\(\d+\)$", "", stem).replace("_", "-")
    for _, topic in sorted(SETS, key=lambda s: -len(s[1])):  # longest topic first
        if re.search(rf"(^|[^a-z]){re.escape(topic)}($|[^a-z])", stem):
            return topic
    match = re.match(r"(?:ch)?(\d+)(-|$)", stem)
    if match:
        return from_argument(match.group(1))
    raise UnknownSet(f"cannot tell the exercise set of {os.path.basename(path)!r} from its name; "
                     f"pass --set with one of: {accepted()}")


def guess_from_source(text):
    """Sets whose answer names are defined in a notebook's text (to say when a file is in the wrong set)."""
    from . import checkers

    defined = set(re.findall(r"^\s*def\s+(\w+)\s*\(", text, re.M)) | set(re.findall(r"^(\w+)\s*=", text, re.M))
    found = []
    for _, topic in SETS:
        targets = {c.target for c in checkers(load(topic))}
        if targets & defined:
            found.append((len(targets & defined), topic))
    return [topic for _, topic in sorted(found, reverse=True)]
