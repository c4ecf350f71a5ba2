# The two commands the README opens with. Each creates .venv on first use.
export DVC_NO_ANALYTICS := 1
export PATH := $(CURDIR)/.venv/bin:$(PATH)

.PHONY: repro test venv
repro: venv  ## run the whole pipeline (dvc repro) on the embedded tiny model
	dvc repro

test: venv   ## run the test suite
	python -m pytest $(PYTEST_ARGS)

venv:
	@bash scripts/setup-venv.sh
