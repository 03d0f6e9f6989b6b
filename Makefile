# One-command set-up, build and test of the workbook. Everything installs from nothing.
#   make book   - create .venv, install, build the HTML book (execution cache on)
#   make test   - same set-up, unit and end-to-end tests, then a forced, warnings-as-errors build and its checks
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BUILD_ENV := HBM_QUIET=1 PYDEVD_DISABLE_FILE_VALIDATION=1
# One OpenBLAS thread in every process make starts (tests import NumPy before hbm can set it; see
# src/hbm/__init__.py): two threads per process spin against the other process on 2 cores
export OPENBLAS_NUM_THREADS ?= 1
# The install compiles the bytecode (.pyc) of what `import hbm` needs, in parallel (hbm_book.bytecode:
# about 2,800 files, 4.5 s on 2 cores); Python caches the rest on first import. Not the whole
# environment (uv's --compile-bytecode: 55 core-seconds for about 11,700 files). With
# PYTHONDONTWRITEBYTECODE set (as in some CI and container images) nothing would be cached and every
# process would compile its imports again (about 15 s)
unexport PYTHONDONTWRITEBYTECODE
FORCE_CONFIG := _build/_config_force.yml

.PHONY: all book test tests unit integration build-force force-config chapter student student-roundtrip book-without-solutions sysdeps need-sysdeps install upgrade-lock simulate clean help \
	browser check-book check-chapter timings record-results reproducibility compare-keys warm-rebuild benchmark-samplers
all: book

help:
	@echo "make book   build the HTML book in _build/html (creates .venv on first use)"
	@echo "make test   unit and end-to-end tests + forced book build with warnings as errors"
	@echo "make tests  the unit and end-to-end tests alone (make unit, make integration: one kind)"
	@echo "make chapter NB=01_eight_schools   build one chapter alone, forced, warnings as errors"
	@echo "make student  write the student edition (notebooks without solutions, data, hbm) to _build/student"
	@echo "make student-roundtrip [NB=01_eight_schools]  run the edition with the solutions put back (all checks PASS)"
	@echo "make book-without-solutions  the HTML book without solutions, for publishing during a course"
	@echo "make timings  table of each notebook's execution time in the last build, with its budget (a report)"
	@echo "make check-book  browser, runaway-time and key-number tests of the built book (make test runs them)"
	@echo "make check-chapter NB=01_eight_schools  browser test of a chapter built by make chapter"
	@echo "make reproducibility  two forced builds, then compare their key numbers bit for bit"
	@echo "make compare-keys SUMMARY=DIR  compare DIR/key_numbers.json with the reference (within Monte Carlo error)"
	@echo "make record-results  after a forced build: write chapter times and the key-number reference"
	@echo "make warm-rebuild  time 'make book' with a warm execution cache and no change (must be < 60 s)"
	@echo "make benchmark-samplers  PyMC NUTS against nutpie for each chapter's model (benchmarks/results)"
	@echo "make upgrade-lock  regenerate requirements-lock.txt (the exact versions make installs) from PyPI"
	@echo "make clean  remove _build (keeps .venv)"

# System programs: Graphviz's `dot` (model graphs) and a C++ compiler (PyTensor compiles each model:
# g++, or clang++ on macOS). `make` only checks for them (need-sysdeps) and, when one is missing, stops
# with the command to run. `make sysdeps` is separate and optional: as root on Debian/Ubuntu it installs
# them, OpenBLAS (PyTensor's BLAS) and Chromium (the browser test) with apt-get; .ci/run calls it.
SYSDEPS_APT := graphviz g++ libopenblas-dev chromium

need-sysdeps:
	@missing=""; \
	command -v dot >/dev/null 2>&1 || missing="$$missing dot (Graphviz),"; \
	{ command -v g++ || command -v clang++; } >/dev/null 2>&1 || missing="$$missing g++ (a C++ compiler),"; \
	if [ -n "$$missing" ]; then \
	  echo "Missing:$$missing install it, then re-run make:"; \
	  echo "  Debian/Ubuntu: sudo make sysdeps   (apt-get install $(SYSDEPS_APT))"; \
	  echo "  macOS:         xcode-select --install; brew install graphviz"; \
	  echo "  conda:         conda install -c conda-forge graphviz gxx   (or environment.yml: see README.md)"; \
	  exit 1; \
	fi
	@if command -v ldconfig >/dev/null 2>&1 && ! ldconfig -p 2>/dev/null | grep -q libopenblas.so; then \
	  echo "Note: OpenBLAS not found; PyTensor falls back to a slower BLAS and warns (Debian/Ubuntu: sudo make sysdeps)"; \
	fi

sysdeps:
	@if command -v dpkg >/dev/null 2>&1 && dpkg -s $(SYSDEPS_APT) >/dev/null 2>&1; then \
	  echo "System packages present: $(SYSDEPS_APT)"; \
	elif [ "$$(id -u)" != 0 ]; then \
	  echo "make sysdeps installs system packages with apt-get: run it as root (sudo make sysdeps)"; exit 1; \
	elif ! command -v apt-get >/dev/null 2>&1; then \
	  echo "make sysdeps needs apt-get (Debian/Ubuntu); elsewhere install Graphviz, a C++ compiler, OpenBLAS and Chromium"; exit 1; \
	else \
	  echo "Installing $(SYSDEPS_APT) with apt-get"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(SYSDEPS_APT) >/dev/null; \
	fi

# The browser test drives the system Chromium (never one downloaded by Playwright)
browser: need-sysdeps
	@command -v chromium >/dev/null 2>&1 || { echo "Chromium is missing: the browser test needs it (Debian/Ubuntu: sudo make sysdeps)"; exit 1; }

# The install: the exact versions of the lock file (requirements-lock.txt, generated from the ranges
# in pyproject.toml by `make upgrade-lock`), then this project, editable, without dependencies.
# uv (installed with pip into .venv/tools/uv, apart from the book's environment) installs them in
# parallel, several times faster than pip; INSTALLER=pip uses pip alone. With uv, .venv is created
# without pip and uv installs pip into it with the lock (the newest pip, as INSTALLER=pip upgrades to;
# the tests run it): venv's own pip install (ensurepip) took 8.7 s, uv 0.5 s.
# uv leaves out the packages of requirements-exclude.txt (the file says why); uv >= 0.13 leaves
# them out although the lock lists them.
LOCK := requirements-lock.txt
EXCLUDES := requirements-exclude.txt
INSTALLER ?= uv
UV := $(VENV)/tools/uv/bin/uv
UV_PIN := uv>=0.13,<1
LOCK_FLAGS := --universal --python-version 3.11 --no-config --index-url https://pypi.org/simple

# uv's venv has no pip of its own when $(PYTHON)'s pip can install into it (pip >= 22.3: --python):
# 7 s less than venv's own pip install (ensurepip), which is the fallback
UV_PY := $(VENV)/tools/uv/bin/python
$(UV):
	$(PYTHON) -m venv --without-pip $(VENV)/tools/uv
	if $(PYTHON) -m pip --python $(UV_PY) --version >/dev/null 2>&1; then \
	  $(PYTHON) -m pip --python $(UV_PY) install -q "$(UV_PIN)"; \
	else $(UV_PY) -m ensurepip >/dev/null && $(UV_PY) -m pip install -q "$(UV_PIN)"; fi

# (the Makefile too: it holds the install's steps, such as the kernelspec)
$(STAMP): $(LOCK) $(EXCLUDES) requirements.txt pyproject.toml Makefile
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is needed")'
ifeq ($(INSTALLER),pip)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r $(LOCK)
	$(BIN)/python -m pip install -q --no-deps -e .
else
	$(PYTHON) -m venv --without-pip $(VENV)
	$(MAKE) --no-print-directory $(UV)
	$(UV) pip install -q --python $(BIN)/python -r $(LOCK) --excludes $(EXCLUDES) pip
	$(UV) pip install -q --python $(BIN)/python --no-deps -e .
endif
	$(BIN)/python -m hbm_book.kernel --install >/dev/null
	$(BIN)/python -m hbm_book.bytecode
	touch $(STAMP)

install: need-sysdeps $(STAMP)

# Regenerate the lock from the ranges in pyproject.toml with the newest versions on PyPI (for every
# platform; the lock's header says how it was made), then reinstall: `make upgrade-lock install`.
# Re-record the key-number reference afterwards (make test, then make record-results).
upgrade-lock: $(UV)
	$(UV) pip compile pyproject.toml --extra book --extra test $(LOCK_FLAGS) --upgrade \
	  --custom-compile-command "make upgrade-lock" -o $(LOCK)

simulate: install
	$(BIN)/python -m hbm.simulate

book: install
	$(BUILD_ENV) $(BIN)/jupyter-book build . --path-output .
	@echo "The book is at $(CURDIR)/_build/html/index.html"

# The unit tests and the end-to-end tests (a whole notebook, a subprocess pipeline or a chapter's fits:
# the chapter 1 student round trip, the simulated Colab, new data same code, the seed-sweep smoke).
# pytest-xdist: one worker per core (PYTEST_JOBS=1 for one process). A test file stays on one worker,
# so its module fixtures (compiled models, fits) are made once. `make tests` (what `make test` runs)
# runs both kinds in one session: the workers start and collect once, the end-to-end tests are handed
# out first (tests/conftest.py) and the unit tests fill in around them, so neither worker waits at the
# end of a stage. Both targets hand out the longest unit-test files first (LONGEST_FIRST in
# tests/conftest.py; --no-loadscope-reorder keeps that order). By xdist_group, chapter 1's round trip
# runs alone on its worker and the three pipeline tests together. (pytest 9.2 breaks the groups:
# pyproject.toml)
PYTEST_JOBS ?= auto
PYTEST := $(BIN)/python -m pytest -q -n $(PYTEST_JOBS)

tests: install
	$(PYTEST) --dist loadgroup --no-loadscope-reorder -m "not book" --durations=20

unit: install
	$(PYTEST) --dist loadfile --no-loadscope-reorder -m "not book and not integration" --durations=15

integration: install
	$(PYTEST) --dist loadgroup -m integration --durations=5

force-config:
	@mkdir -p _build
	@sed 's/^  execute_notebooks: cache/  execute_notebooks: force/' _config.yml > $(FORCE_CONFIG)
	@grep -q '^  execute_notebooks: force' $(FORCE_CONFIG) || { echo "could not switch _config.yml to forced execution"; exit 1; }

# The forced build: hbm_book.execute empties the execution cache and runs every notebook of _toc.yml into
# it, two at a time; Jupyter Book then builds from that cache (warnings as errors), so
# every page shows this run's outputs, and a later `make book` finds them. _build/execution_record.json
# holds the run (read by the build report).
FORCE_CACHE := $(CURDIR)/_build/.jupyter_cache
EXEC_RECORD := $(CURDIR)/_build/execution_record.json
PRERUN_CONFIG := _build/_config_prerun.yml

build-force: install
	rm -rf _build/summary $(EXEC_RECORD)
	@mkdir -p _build
	@sed 's#^  execute_notebooks: cache#  execute_notebooks: cache\n  cache: $(FORCE_CACHE)#' _config.yml > $(PRERUN_CONFIG)
	@grep -q '^  cache: $(FORCE_CACHE)' $(PRERUN_CONFIG) || { echo "could not point _config.yml at the fresh cache"; exit 1; }
	$(BUILD_ENV) $(BIN)/python -m hbm_book.execute --cache $(FORCE_CACHE) --record $(EXEC_RECORD)
	$(BUILD_ENV) HBM_EXECUTION_RECORD=$(EXEC_RECORD) HBM_SUMMARY_DIR=$(CURDIR)/_build/summary \
	  $(BIN)/jupyter-book build . --path-output . --config $(PRERUN_CONFIG) --all -W -n --keep-going

# Build one chapter alone (forced execution, warnings as errors) into _build/chapters/NB; its key
# numbers go to $HBM_SUMMARY_DIR/key_numbers.json (default _build/chapters/NB/_build/summary/):
#   make chapter NB=01_eight_schools
chapter: install force-config
	@test -f book/$(NB).ipynb || { echo "usage: make chapter NB=01_eight_schools (no book/$(NB).ipynb)"; exit 1; }
	@printf 'format: jb-book\nroot: book/intro\nchapters:\n  - file: book/$(NB)\n  - file: book/references\n' > _build/_toc_$(NB).yml
	$(BUILD_ENV) $(BIN)/jupyter-book build . --path-output _build/chapters/$(NB) --config $(FORCE_CONFIG) \
	  --toc _build/_toc_$(NB).yml --all -W -n --keep-going
	@echo "Chapter page: $(CURDIR)/_build/chapters/$(NB)/_build/html/book/$(NB).html"

# The student edition for handing out: solutions replaced by stubs, outputs stripped (see src/hbm_book/student.py)
student: install
	$(BIN)/python -m hbm_book.student --out _build/student

# The student edition with every solution put back into its stub, run to the end in the edition's
# folder with its own hbm and data; every self-check must PASS (per chapter: time and result).
# NB=01_eight_schools runs one chapter
student-roundtrip: install
	$(BUILD_ENV) $(BIN)/python -m hbm_book.student_roundtrip $(if $(NB),--nb $(NB))

# The HTML book with the solutions removed (solution blocks, solution cells and their outputs;
# the .ipynb downloads are the student edition's), for publishing while a course runs:
# _build/without_solutions/_build/html (NB=01_eight_schools: that chapter only, to check it)
book-without-solutions: install
	$(BUILD_ENV) $(BIN)/python -m hbm_book.book_without_solutions --out _build/without_solutions $(if $(NB),--nb $(NB))

# Tests of the built book (tests/book/): every page in headless Chromium (screenshots in
# _build/screenshots/), no runaway chapter (over 3x its budget), the key numbers against the committed
# reference within their Monte Carlo error. On every core: the tests of one page run on one worker, which
# opens it once (by_page in tests/book/test_browser.py)
check-book: install browser
	HBM_CHROMIUM=$$(command -v chromium) $(PYTEST) --dist loadgroup -m book tests/book

# The browser test on one chapter built by `make chapter NB=...`
check-chapter: install browser
	@test -f _build/chapters/$(NB)/_build/html/book/$(NB).html || { echo "build it first: make chapter NB=$(NB)"; exit 1; }
	HBM_CHROMIUM=$$(command -v chromium) HBM_BOOK_BUILD_DIR=_build/chapters/$(NB)/_build HBM_BOOK_TOC=_build/_toc_$(NB).yml \
	  $(BIN)/python -m pytest -q -m book tests/book/test_browser.py

timings: install
	@$(BIN)/python -m hbm_book.timings

# After a forced build (make build-force or make test): record the chapter times (read by the
# "For instructors" page) and the key-number reference (values, MCSEs, package versions)
record-results: install
	$(BIN)/python -m hbm_book.timings --record benchmarks/results/chapter_times.json
	$(BIN)/python -m hbm_book.keynumbers record _build/summary/key_numbers.json tests/book/key_numbers.reference.json

# Two forced builds from scratch; their key numbers must be identical, bit for bit
reproducibility: install force-config
	rm -rf _build/repro && mkdir -p _build/repro
	for run in 1 2; do \
	  $(BUILD_ENV) HBM_SUMMARY_DIR=$(CURDIR)/_build/repro/run$$run $(BIN)/jupyter-book build . --path-output _build/repro/book \
	    --config $(FORCE_CONFIG) --all -W -n --keep-going >_build/repro/build$$run.log 2>&1 \
	    || { tail -30 _build/repro/build$$run.log; exit 1; }; \
	  cp _build/repro/book/_build/exec_report.json _build/repro/run$$run/; \
	done
	$(BIN)/python -m hbm_book.keynumbers compare --exact _build/repro/run1/key_numbers.json _build/repro/run2/key_numbers.json

# Compare one build's key numbers with the reference, within their Monte Carlo error, for the chapters
# the build holds (keys of other chapters are ignored):
#   HBM_SUMMARY_DIR=/tmp/ks make chapter NB=02_five_districts && make compare-keys SUMMARY=/tmp/ks
compare-keys: install
	@test -n "$(SUMMARY)" || { echo "usage: make compare-keys SUMMARY=DIR (the folder of a build's key_numbers.json)"; exit 1; }
	$(BIN)/python -m hbm_book.keynumbers compare tests/book/key_numbers.reference.json $(SUMMARY)

# `make book` twice: the first fills the execution cache, the second (timed) must take < 60 s
warm-rebuild: install
	$(MAKE) --no-print-directory book >/dev/null
	@start=$$(date +%s%N); $(MAKE) --no-print-directory book >/dev/null; \
	  ms=$$(( ($$(date +%s%N) - start) / 1000000 )); secs=$$(( ms / 1000 )).$$(printf %03d $$(( ms % 1000 ))); \
	  echo "warm rebuild (make book, nothing changed): $$secs s"; \
	  printf '{"warm_rebuild_seconds": %s, "date": "%s"}\n' "$$secs" "$$(date -Is)" > _build/warm_rebuild.json; \
	  [ $$ms -lt 60000 ] || { echo "over the 60 s budget"; exit 1; }

benchmark-samplers: install
	$(BIN)/python benchmarks/samplers.py

test: tests build-force check-book
	@echo "All tests passed; the book is at $(CURDIR)/_build/html/index.html"

clean:
	rm -rf _build
