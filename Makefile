# The two commands of the README. Both build the virtual environment from nothing.
# torch is pinned to the local CPU wheel here only; the package itself asks for a normal range.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH_PIN ?= torch==2.13.0

.PHONY: demo test test-kernels docs venv clean

$(BIN)/.installed: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet "$(TORCH_PIN)"
	$(BIN)/pip install --quiet -e ".[test]"
	touch $@

venv: $(BIN)/.installed

# the docs extra on top of the same venv (Sphinx, theme, gallery, MathJax, Playwright)
$(BIN)/.installed-docs: $(BIN)/.installed
	$(BIN)/pip install --quiet -e ".[test,docs]"
	touch $@

demo: venv
	$(BIN)/mibound experiment staircase --quick --out results/staircase

test: venv
	$(BIN)/python -m pytest -q

# The numerically sensitive tests (marker "numerics") again under other floating-point kernels: ATen's
# non-vectorised kernels, MKL's SSE2 code path (conditional numerical reproducibility), OpenBLAS's Haswell
# (AVX2) kernels. Each variable changes result bits on an AVX-512 machine (torch GEMMs and reductions,
# numpy/scipy BLAS and LAPACK); the tolerances of these tests are measured across such kernels.
KERNELS_ENV ?= ATEN_CPU_CAPABILITY=default MKL_CBWR=COMPATIBLE OPENBLAS_CORETYPE=Haswell
test-kernels: venv
	$(KERNELS_ENV) $(BIN)/python -m pytest -q -m numerics

# The site: docs/_build/html. Any Sphinx warning fails (-W, nitpicky references), and so does any gallery
# example that raises; then docs/check_site.py checks every internal link and, where Chromium is installed,
# renders three pages in it (images, math, console) and writes their screenshots to docs/_build/screenshots/.
DOCS_ENV ?= OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 MPLBACKEND=Agg
docs: $(BIN)/.installed-docs
	$(DOCS_ENV) $(BIN)/python -m sphinx -b html -W --keep-going -E docs docs/_build/html
	$(BIN)/python docs/check_site.py docs/_build/html

clean:
	rm -rf $(VENV) results .pytest_cache docs/_build docs/api docs/gallery docs/sg_execution_times.rst
