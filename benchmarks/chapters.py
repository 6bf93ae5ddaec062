"""Execute each chapter in a fresh kernel, as a reader would, and print its wall time and peak memory.

Run: .venv/bin/python benchmarks/chapters.py [chapters/NN-name.md ...]   (default: every chapter)
The budget per chapter is 90 s and 2 GB on two CPU cores.
"""

import pathlib
import subprocess
import sys
import time

RUN = """
import os, resource, sys, jupytext, nbclient
nb = jupytext.read(sys.argv[1])
nbclient.NotebookClient(nb, timeout=900, kernel_name="python3",
                        resources={"metadata": {"path": os.path.dirname(os.path.abspath(sys.argv[1]))}}).execute()
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)  # the kernel, reaped at shutdown
"""


def measure(path):
    """(exit code, wall seconds, peak resident memory of the kernel in MB) for one chapter."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", RUN, str(path)], capture_output=True, text=True)
    wall = time.perf_counter() - start
    lines = proc.stdout.split()
    return proc.returncode, wall, int(lines[-1]) / 1024 if proc.returncode == 0 and lines else float("nan")


def main():
    paths = sys.argv[1:] or sorted(str(p) for p in pathlib.Path("chapters").glob("*.md"))
    print(f"{'chapter':<34} {'exit':>4} {'wall (s)':>9} {'peak MB':>8}")
    for path in paths:
        rc, wall, mb = measure(path)
        print(f"{pathlib.Path(path).name:<34} {rc:>4} {wall:>9.1f} {mb:>8.0f}", flush=True)


if __name__ == "__main__":
    main()
