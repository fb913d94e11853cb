# hastack.openstack developer entry points. `make lab` and `make test` are the two README commands.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV ?= .venv
PY ?= python3
INVENTORY ?= inventories/lab
# Debian release of molecule's hosts: trixie (Debian 13) or bookworm (Debian 12).
export HASTACK_DISTRIBUTION ?= trixie
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export ANSIBLE_FORCE_COLOR ?= 1
export PY_COLORS ?= 1

STAMP := $(VENV)/.hastack-setup
COLLECTION_LINK := $(VENV)/collections/ansible_collections/hastack/openstack

.PHONY: help setup host lab lab-destroy lab-demo test test-full lint sanity unit molecule build clean bench-failover

help:
	@echo "make lab [INVENTORY=inventories/lab-small]  bring up the container lab and deploy site.yml on it"
	@echo "make lab-destroy [INVENTORY=...]            remove the lab's containers, network and volumes"
	@echo "make lab-demo [DEMO_INSTANCES=4]            boot HA_Enabled test instances spread over the lab's computes"
	@echo "make test                                   lint, sanity, unit/integration tests, molecule (what CI runs)"
	@echo "make bench-failover [BENCH_INSTANCES=4]     failover seconds on the lab: Masakari's engine vs hastack.openstack.recover"
	@echo "make setup                                  create/refresh the virtualenv in $(VENV)"

# Idempotent: the venv is rebuilt only when the pinned toolchain changes.
setup: $(STAMP) $(COLLECTION_LINK)

$(STAMP): requirements.txt constraints.txt
	test -x $(VENV)/bin/python || $(PY) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements.txt -c constraints.txt
	touch $@

# The checkout itself is the collection: link it where Ansible looks for hastack.openstack.
$(COLLECTION_LINK):
	mkdir -p $(dir $@)
	ln -sfn $(CURDIR) $@

# Host side of the lab and of molecule: podman, the apt cache, the base image (all cached).
host: setup
	ansible-playbook playbooks/lab_host.yml -e lab_distribution=$(HASTACK_DISTRIBUTION)

lab: setup
	ansible-playbook -i $(INVENTORY) playbooks/lab_up.yml

lab-destroy: setup
	ansible-playbook -i $(INVENTORY) playbooks/lab_destroy.yml

# Boots the HA_Enabled demo instances (DEMO_INSTANCES, default 4) spread over the lab's computes.
DEMO_INSTANCES ?= 4
lab-demo: setup
	ansible-playbook -i $(INVENTORY) playbooks/lab_demo.yml -e lab_openstack_demo_instances=$(DEMO_INSTANCES)

test: setup lint sanity unit molecule

# Seconds from a compute's power loss to its instances ACTIVE elsewhere: Masakari's engine (upstream timings) and
# hastack.openstack.recover, one after the other on the running lab (make lab first).
BENCH_INSTANCES ?= 4
bench-failover: setup
	cd tests/lab && python bench_failover.py --instances $(BENCH_INSTANCES)

# Everything in `make test`, plus the slow checks against whole labs (lab lifecycle, lab cloud scenarios).
test-full: test
	for scenario in $(MOLECULE_SLOW_SCENARIOS); do molecule test -s $$scenario; done
	HASTACK_LAB_TESTS=1 pytest -s tests/lab

lint: setup
	yamllint --strict .
	ansible-lint --profile production

build: setup
	mkdir -p build
	ansible-galaxy collection build --force --output-path build .

# ansible-test lists a collection's files through git, and bootstraps pip from a host we cannot reach:
# the built collection gets a throwaway git index and the bootstrap comes from tools/ (pip version of ansible-core 2.19).
ANSIBLE_TEST_GET_PIP := $(HOME)/.ansible/test/cache/get_pip_24_2.py
sanity: build
	rm -rf build/sanity
	ansible-galaxy collection install --no-deps --force -p build/sanity build/hastack-openstack-*.tar.gz
	install -D -m 0644 tools/ansible_test_get_pip.py $(ANSIBLE_TEST_GET_PIP)
	cd build/sanity/ansible_collections/hastack/openstack && git init -q && git add -A && \
	  ansible-test sanity --python $$(python -c 'import sys; print("%d.%d" % sys.version_info[:2])') --color yes

unit: setup
	pytest tests/unit tests/integration

# Scenarios run by `make test` (CI); `make test-full` also runs MOLECULE_SLOW_SCENARIOS.
MOLECULE_SCENARIOS ?= memcached loadbalancer dbvip galera rabbitmq pacemaker
MOLECULE_SLOW_SCENARIOS ?=
# Each scenario's output is also kept in build/molecule/; on failure its failing tests are repeated at the end.
molecule: host
	mkdir -p build/molecule
	for scenario in $(MOLECULE_SCENARIOS); do \
	  molecule test -s $$scenario 2>&1 | tee build/molecule/$$scenario.log || \
	    { $(PY) tools/failure_summary.py build/molecule/$$scenario.log; exit 1; }; \
	done

clean:
	rm -rf build .cache
