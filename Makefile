# Two commands do everything on a fresh machine: `make run` and `make test`.
# uv is used when it is on PATH; otherwise it is bootstrapped into .tools/ from PyPI.

UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
PYTEST_ARGS ?=

.PHONY: run test bench sync clean

.tools/bin/uv:
	python3 -m venv .tools
	.tools/bin/pip install --quiet uv

sync: $(if $(filter .tools/bin/uv,$(UV)),.tools/bin/uv)
	$(UV) sync

run: sync
	$(UV) run corestore serve $(ARGS)

test: sync
	$(UV) run pytest $(PYTEST_ARGS)

bench: sync
	$(UV) run pytest bench --benchmark-only -s $(PYTEST_ARGS)

clean:
	rm -rf .venv .tools corestore-data .pytest_cache .benchmarks
