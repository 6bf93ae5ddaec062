"""The grader's own files, fingerprinted: ``python -m dyngeo.grading.manifest [--write]``.

``manifest.json`` beside this module lists the SHA-256 of every Python file of the installed
``dyngeo``. Before grading, ``python -m dyngeo.grade`` checks the installed files against it and
refuses to run on a copy that differs (a notebook graded earlier may have rewritten them); while a
batch runs it also keeps the files in memory and puts back any file a notebook changes.
Developers regenerate the list with ``make manifest`` after changing the library.
"""

import argparse
import hashlib
import json
import pathlib
import sys

PACKAGE = pathlib.Path(__file__).resolve().parents[1]
MANIFEST = pathlib.Path(__file__).with_name("manifest.json")


def files():
    """Every Python file of the package, keyed by its path relative to the package."""
    return {str(p.relative_to(PACKAGE)): p for p in sorted(PACKAGE.rglob("*.py")) if "__pycache__" not in p.parts}


def fingerprints(contents=None):
    contents = contents if contents is not None else snapshot()
    return {name: hashlib.sha256(data).hexdigest() for name, data in contents.items()}


def snapshot():
    """The bytes of every Python file of the package."""
    return {name: path.read_bytes() for name, path in files().items()}


def differences(expected, actual):
    """Names of files added, removed or changed between two fingerprint dicts."""
    return sorted(name for name in set(expected) | set(actual) if expected.get(name) != actual.get(name))


def check_installed():
    """Raise RuntimeError naming the files where the installed dyngeo differs from its manifest."""
    if not MANIFEST.exists():
        raise RuntimeError(f"{MANIFEST} is missing: this copy of dyngeo cannot be verified")
    changed = differences(json.loads(MANIFEST.read_text()), fingerprints())
    if changed:
        raise RuntimeError("the installed dyngeo differs from the copy the grader was built from, in "
                           + ", ".join(changed[:10]) + (" ..." if len(changed) > 10 else "")
                           + f" ({PACKAGE}). Reinstall it from the release (or, for a developer, run `make manifest`) "
                           "before grading")


def restore(saved):
    """Put the files of ``saved`` (from :func:`snapshot`) back; return the names that had changed."""
    now = snapshot()
    changed = differences(fingerprints(saved), fingerprints(now))
    for name in changed:
        path = PACKAGE / name
        if name in saved:
            path.write_bytes(saved[name])
        else:
            path.unlink()
    return changed


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m dyngeo.grading.manifest", description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="write manifest.json for the files as they are")
    args = parser.parse_args(argv)
    if args.write:
        MANIFEST.write_text(json.dumps(fingerprints(), indent=0, sort_keys=True) + "\n")
        print(f"wrote {MANIFEST}")
        return 0
    try:
        check_installed()
    except RuntimeError as error:
        print(error)
        return 1
    print("the installed dyngeo matches its manifest")
    return 0


if __name__ == "__main__":
    sys.exit(main())
