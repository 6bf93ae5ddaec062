"""The GPU checks are collected only when asked for (``DYNGEO_GPU_TESTS=1``, as ``make test-gpu`` does), so
``make test`` / ``make unit`` (``pytest tests``) never runs them; without a GPU they skip with one line."""

import os

collect_ignore_glob = [] if os.environ.get("DYNGEO_GPU_TESTS") == "1" else ["test_*.py"]
