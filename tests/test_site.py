"""The built book, opened in headless Chromium as a reader would, with no network.

Run after `make book` (``make site`` does both in order); DYNGEO_SITE names the built HTML folder.
"""

import os
import pathlib
import re
import shutil
import subprocess
import tempfile

import pytest

SITE = pathlib.Path(os.environ.get("DYNGEO_SITE", "_build/html")).resolve()
CHAPTER = SITE / "chapters" / "01-neural-odes.html"

pytestmark = pytest.mark.skipif("DYNGEO_SITE" not in os.environ, reason="set DYNGEO_SITE to test a built site")


def rendered_dom(page):
    """The page's DOM after its scripts ran, from headless Chromium."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "chromium is not installed (make site installs it)"
    with tempfile.TemporaryDirectory() as profile:
        out = subprocess.run(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-background-networking", f"--user-data-dir={profile}",
             "--virtual-time-budget=10000", "--dump-dom", page.as_uri()],
            capture_output=True, text=True, timeout=120,
        )
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


def test_site_was_built():
    assert CHAPTER.exists(), f"{CHAPTER} not found: run `make book` first"


def test_math_is_typeset_offline():
    dom = rendered_dom(CHAPTER)
    assert dom.count("<mjx-container") > 10, "MathJax did not typeset the chapter's equations"


def test_widget_state_renders_offline():
    dom = rendered_dom(CHAPTER)
    assert "widget-slider" in dom or "widget-hslider" in dom, "the ipywidgets slider was not rendered"


def test_no_asset_comes_from_a_cdn():
    html = CHAPTER.read_text()
    remote = re.findall(r'<script[^>]+src="(https?://[^"]+)"', html)
    assert not remote, f"scripts loaded from the network: {remote}"


def test_launch_buttons_open_the_notebook_twin():
    html = CHAPTER.read_text()
    assert "colab.research.google.com/github/" in html and "chapters/01-neural-odes.ipynb" in html
    assert "mybinder.org/v2/gh/" in html


def test_public_book_has_no_solutions():
    assert not (SITE / "solutions").exists(), "the public book must not contain the solutions"
    assert (SITE / "exercises" / "01-neural-odes.html").exists()
