"""Runs a module of this collection in-process, as Ansible would, against a fake cloud.

- The checkout is made importable as ``ansible_collections.hastack.openstack`` through a symlink in a
  temporary directory (no ``make setup`` needed).
- Module arguments go in through ansible-core's ``patch_module_args``; ``_ansible_check_mode`` and
  ``_ansible_diff`` switch check and diff mode as the controller would.
- ``exit_json``/``fail_json`` raise ``ModuleExit`` carrying the result, which must be JSON-serialisable, as
  the real ones would print it.
- ``openstack.connect`` returns the given fake connection and records the keyword arguments it got.
"""

import atexit
import importlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from unittest import mock

import openstack
import yaml
from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args

ROOT = Path(__file__).resolve().parents[2]

_collections = tempfile.mkdtemp(prefix="hastack-collections-")
atexit.register(shutil.rmtree, _collections, True)
os.makedirs(os.path.join(_collections, "ansible_collections", "hastack"))
os.symlink(str(ROOT), os.path.join(_collections, "ansible_collections", "hastack", "openstack"))
sys.path.insert(0, _collections)

MODULE_PACKAGE = "ansible_collections.hastack.openstack.plugins.modules."


class ModuleExit(Exception):
    def __init__(self, result):
        super().__init__(result.get("msg", ""))
        self.result = result


def _exit_json(self, **kwargs):
    kwargs.setdefault("changed", False)
    kwargs["failed"] = False
    raise ModuleExit(json.loads(json.dumps(kwargs)))


def _fail_json(self, msg, **kwargs):
    kwargs.update(msg=msg, failed=True)
    raise ModuleExit(json.loads(json.dumps(kwargs, default=str)))


def load(name):
    return importlib.import_module(MODULE_PACKAGE + name)


def run_module(name, args, connection, check_mode=False, diff=False):
    """Result dict of module ``name`` run with ``args``; ``failed`` tells success from failure."""
    module = load(name)
    connect_calls = []

    def connect(**config):
        connect_calls.append(config)
        return connection

    module_args = dict(args, _ansible_check_mode=check_mode, _ansible_diff=diff)
    with mock.patch.object(basic.AnsibleModule, "exit_json", _exit_json), \
            mock.patch.object(basic.AnsibleModule, "fail_json", _fail_json), \
            mock.patch.object(openstack, "connect", connect), \
            patch_module_args(module_args):
        try:
            module.main()
        except ModuleExit as done:
            result = done.result
            result["_connect_calls"] = connect_calls
            return result
    raise AssertionError("module %s returned without exit_json or fail_json" % name)


def documented_returns(name):
    """RETURN of module ``name``, parsed."""
    return yaml.safe_load(load(name).RETURN)


def assert_documented(name, result):
    """Every key of a successful result is in RETURN, with every key of its dicts among ``contains``."""
    doc = documented_returns(name)
    internal = {"changed", "failed", "diff", "invocation", "warnings", "_connect_calls"}
    for key, value in result.items():
        if key in internal:
            continue
        assert key in doc, "%s returns %r, which RETURN does not document" % (name, key)
        contains = doc[key].get("contains")
        items = value if isinstance(value, list) else [value]
        for item in items:
            if isinstance(item, dict) and contains is not None:
                assert set(item) == set(contains), (
                    "%s: %r returns keys %s but documents %s" % (name, key, sorted(item), sorted(contains)))
