# The two commands of the README. Both build the virtual environment from nothing.
# torch is pinned to the local CPU wheel here only; the package itself asks for a normal range.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH_PIN ?= torch==2.13.0

.PHONY: demo test venv clean

$(BIN)/.installed: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet "$(TORCH_PIN)"
	$(BIN)/pip install --quiet -e ".[test]"
	touch $@

venv: $(BIN)/.installed

demo: venv
	$(BIN)/mibound experiment staircase --quick --out results/staircase

test: venv
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) results .pytest_cache
