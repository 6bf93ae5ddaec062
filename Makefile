# Two commands for a fresh machine: `make book` and `make test` (both install what they need).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
JB     := $(VENV)/bin/jupyter-book
# On this machine torch comes from a local CPU wheel; elsewhere override, e.g. TORCH="torch>=2.2".
TORCH  ?= torch==2.13.0
JOBS   ?= 2

CHAPTERS  := $(wildcard chapters/*.md)
SOLUTIONS := $(wildcard solutions/*.md)
EXERCISES := $(patsubst solutions/%,exercises/%,$(SOLUTIONS))

.PHONY: install page book book-instructor test test-gpu unit notebooks site exercises twins checkpoints benchmarks manifest release autograder clean

install: $(VENV)/.installed book/_vendor/.stamp

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH)"
	$(PY) -m pip install -q -e ".[dev]"
	# torchattacks, for the attack cross-checks only: its declared dependencies (torchvision, an old requests)
	# are not used by the attacks the tests call and would pull a second torch build, so none of them.
	$(PY) -m pip install -q --no-deps "torchattacks==3.5.1"
	# normflows, for the RealNVP cross-check only; it needs nothing beyond torch and numpy.
	$(PY) -m pip install -q --no-deps "normflows==1.7.3"
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $@

book/_vendor/.stamp: book/vendor_assets.sh
	bash book/vendor_assets.sh

# The public book: executes every chapter (warnings are errors, a failing cell fails the build).
book: install
	$(JB) build --all -W -n --keep-going .
	@echo "The book is at file://$(CURDIR)/_build/html/index.html"

# The instructor edition: the same book with each solution set after its exercise set.
book-instructor: install
	mkdir -p _build
	sed 's#^\( *\)- file: exercises/\(.*\)$$#&\n\1- file: solutions/\2#' _toc.yml > _build/_toc_instructor.yml
	$(JB) build --all -W -n --keep-going --toc _build/_toc_instructor.yml --path-output _build/instructor .
	@echo "The instructor edition is at file://$(CURDIR)/_build/instructor/_build/html/index.html"

# One chapter alone, for authors: `make page PAGE=chapters/02-sa-node` (no .md suffix).
page: install
	mkdir -p _build
	{ printf 'format: jb-book\nroot: book/intro\nchapters:\n  - file: %s\n' $(PAGE); \
	  if [ -f exercises/$(notdir $(PAGE)).md ]; then printf '    sections:\n      - file: exercises/%s\n' $(notdir $(PAGE)); fi; \
	  printf '  - file: book/bibliography\n'; } > _build/_toc_$(notdir $(PAGE)).yml
	$(JB) build --all -W -n --keep-going --toc _build/_toc_$(notdir $(PAGE)).yml --path-output _build/page-$(notdir $(PAGE)) .
	@echo "The page is at file://$(CURDIR)/_build/page-$(notdir $(PAGE))/_build/html/$(PAGE).html"

# Student versions and Colab twins are generated, never edited by hand.
exercises: install
	$(PY) -m dyngeo.grading.student
	$(MAKE) twins

twins: install
	$(VENV)/bin/jupytext --quiet --to ipynb $(CHAPTERS) $(EXERCISES)

# The grader refuses a dyngeo whose files differ from this list: rewrite it after changing src/.
manifest: install
	$(PY) -m dyngeo.grading.manifest --write

# The bundle to hand to students: the committed book without its answers (solutions/ and tests/).
release:
	mkdir -p _build/release
	git archive --format=tar.gz --prefix=dynamics-and-geometry-of-learning/ -o _build/release/student-bundle.tar.gz \
	  HEAD -- . ':(exclude)solutions' ':(exclude)tests'
	@echo "The student bundle is _build/release/student-bundle.tar.gz"

# A Gradescope autograder for one exercise set: `make autograder SET=ch01`.
autograder: install
	$(PY) -m dyngeo.grading.autograder $(SET) --out _build/autograder

checkpoints: install
	for script in src/dyngeo/checkpoints/make_*.py; do \
	  $(PY) -m dyngeo.checkpoints.$$(basename $$script .py) || exit 1; done

benchmarks: install
	for script in benchmarks/*.py; do $(PY) $$script || exit 1; done

# Every test: library and grading tests, exercise notebooks (nbval), the executing book build,
# and the built site in headless Chromium.
test: install unit notebooks book site

# Parallel workers get one thread each: torch threads oversubscribing two cores run far slower.
unit: install
	OMP_NUM_THREADS=1 $(PY) -m pytest -q -n $(JOBS) tests --ignore=tests/test_site.py

# Every model and geometric tool on CUDA against the CPU (float32); one skip line without a GPU.
test-gpu: install
	DYNGEO_GPU_TESTS=1 $(PY) -m pytest -q -rs tests/gpu

notebooks: install
	OMP_NUM_THREADS=1 $(PY) -m pytest -q -n $(JOBS) --dist loadfile --nbval-lax --nbval-current-env -p no:randomly $(EXERCISES) $(SOLUTIONS)

site: install
	command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)
	DYNGEO_SITE=_build/html $(PY) -m pytest -q tests/test_site.py

clean:
	rm -rf _build
