# Bloomberg Dashboard: the two commands are `make demo` and `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

VENV := .venv
BIN := $(VENV)/bin
export PATH := $(CURDIR)/$(BIN):$(PATH)
export ANSIBLE_VAULT_PASSWORD_FILE ?= $(CURDIR)/.cache/local/vault-pass
PYTHON ?= python3

.PHONY: help demo test deps venv images secrets lint unit flux-checker molecule molecule-destroy molecule-multihost molecule-multihost-destroy demo-destroy rerun bench pins clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

# The demo deploys the pinned upstream images when Docker Hub answers, else the
# offline kit (tests/images/choose-kit.sh; BBDASH_OFFLINE_KIT=yes|no forces it).
DEMO_KIT_FILE := .cache/local/demo-kit

demo: venv deps secrets ## Build the local test host and deploy the whole stack into it
	mkdir -p $(dir $(DEMO_KIT_FILE))
	bash tests/images/choose-kit.sh > $(DEMO_KIT_FILE)
	if [ "$$(cat $(DEMO_KIT_FILE))" = offline_kit ]; then \
	  bash tests/demo-info.sh --offline-banner; $(MAKE) --no-print-directory images; \
	else bash tests/images/build-base.sh && bash tests/images/build-capture.sh; fi
	BBDASH_DEMO_KIT=$$(cat $(DEMO_KIT_FILE)) molecule converge -s demo
	@bash tests/demo-info.sh

test: lint unit molecule molecule-multihost ## Everything CI runs: lint, unit and static tests, the molecule scenarios

deps: ## Install the system packages the tests need (Debian/Ubuntu, as root)
	bash tests/deps.sh
	bash tests/images/ensure-docker.sh

# Flux's own parser and type checker (WebAssembly, run by node) for the
# dashboards' queries: InfluxDB itself cannot be installed here.
FLUX_LSP := .cache/flux-lsp/node_modules/@influxdata/flux-lsp-browser/package.json
$(FLUX_LSP):
	npm install --silent --no-audit --no-fund --prefix .cache/flux-lsp @influxdata/flux-lsp-browser@0.8.40

flux-checker: $(FLUX_LSP) ## Install the Flux type checker used by the dashboard tests

$(BIN)/.installed: requirements-dev.txt files/feeders/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	URLLIB3_NO_OVERRIDE=1 $(BIN)/pip install -q -r requirements-dev.txt
	$(BIN)/pip install -q -e 'files/feeders[dev]'
	touch $@

venv: $(BIN)/.installed ## Create the virtualenv with the pinned tooling

images: deps venv ## Build the offline images (test host, stack, test doubles) and the feeders' wheelhouse
	bash tests/images/build-base.sh
	bash tests/images/build-stack.sh
	bash tests/images/build-wheelhouse.sh

secrets: venv ## Generate the local deployment's SSH key and encrypted vault
	bash tests/local-secrets.sh

lint: venv secrets ## yamllint, ansible-lint (production profile), syntax check, ruff
	yamllint --strict .
	ansible-lint --profile production
	for playbook in playbooks/*.yml; do \
	  ansible-playbook --syntax-check -i inventories/production/hosts.yml "$$playbook" >/dev/null; done
	ruff check files/feeders roles tests bench collections
	ruff format --check files/feeders roles tests bench collections
	check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml

unit: venv deps flux-checker ## Python tests (real PostgreSQL) and static checks of roles, configs, dashboards
	pytest tests/python tests/static tests/contract -q --durations=15

molecule: venv images secrets ## The full molecule sequence against the offline test host
	# A fresh host means a fresh inner Docker too: molecule's destroy keeps
	# the named volume, and with it databases set up with another vault.
	docker rm -f bbdash-test >/dev/null 2>&1 || true
	docker volume rm -f bbdash-test-docker >/dev/null
	rm -rf .cache/facts-default
	mkdir -p .cache/molecule && rm -f .cache/molecule/verify.xml
	# CI keeps only the tail: after molecule's recap, say what failed.
	molecule test -s default 2>&1 | tee .cache/molecule/test.log || { \
	  $(BIN)/python tests/report_failures.py \
	    --junit .cache/molecule/verify.xml --log .cache/molecule/test.log; exit 1; }

molecule-destroy: venv ## Remove the molecule test host and its inner Docker volume
	molecule destroy -s default
	docker volume rm -f bbdash-test-docker >/dev/null
	rm -rf .cache/facts-default

# The stack on three hosts, one layer each, linked over mutual TLS
# (molecule/multihost, docs/links.md): create, prepare, converge, verify.
MH_HOSTS := bbdash-data bbdash-collection bbdash-presentation
MH_VOLUMES := bbdash-mh-data-docker bbdash-mh-collection-docker bbdash-mh-presentation-docker

molecule-multihost: venv images secrets ## The molecule sequence with the stack spread over three offline test hosts
	# Fresh hosts and fresh inner Dockers, as for the default scenario.
	docker rm -f $(MH_HOSTS) >/dev/null 2>&1 || true
	docker volume rm -f $(MH_VOLUMES) >/dev/null
	rm -rf .cache/facts-multihost
	mkdir -p .cache/molecule && rm -f .cache/molecule/multihost-verify.xml
	molecule test -s multihost 2>&1 | tee .cache/molecule/multihost.log || { \
	  $(BIN)/python tests/report_failures.py \
	    --junit .cache/molecule/multihost-verify.xml --log .cache/molecule/multihost.log; exit 1; }

molecule-multihost-destroy: venv ## Remove the three multihost test hosts, their inner Docker volumes and network
	molecule destroy -s multihost
	docker volume rm -f $(MH_VOLUMES) >/dev/null
	rm -rf .cache/facts-multihost

rerun: venv secrets ## Rerun the site playbook against the running demo host (same images as make demo)
	BBDASH_DEMO_KIT=$$(cat $(DEMO_KIT_FILE) 2>/dev/null || echo offline_kit) molecule converge -s demo

demo-destroy: venv ## Remove the demo host and its inner Docker volume
	molecule destroy -s demo
	docker volume rm -f bbdash-demo-docker >/dev/null
	rm -rf .cache/facts-demo

bench: venv deps ## Run every benchmark and rewrite docs/benchmarks.md
	for b in bench/*/run.py; do $(BIN)/python "$$b"; done

# Works offline: a registry that does not answer leaves its pins "not checked"
# (exit 0); exit 1 only when a registry answered that a pin cannot be pulled.
pins: venv ## List every pinned image and plugin, check each where its registry answers, show what is newer
	$(BIN)/python roles/pins/tools/pins_report.py

clean: ## Remove the virtualenv and caches (not the images)
	rm -rf $(VENV) .cache/facts .cache/facts-default .cache/facts-demo .cache/facts-multihost .pytest_cache .ruff_cache
