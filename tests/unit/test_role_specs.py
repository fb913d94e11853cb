"""Every role documents its variables in meta/argument_specs.yml, with the same defaults as defaults/main.yml."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ROLES = sorted(path.name for path in (ROOT / "roles").iterdir() if path.is_dir() and not path.name.startswith("."))


def load(path: Path):
    with path.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def role_defaults(role: str) -> dict:
    path = ROOT / "roles" / role / "defaults" / "main.yml"
    return (load(path) or {}) if path.is_file() else {}


def entry_points(role: str) -> dict[str, dict]:
    """entry point name -> its options (name -> option spec)."""
    path = ROOT / "roles" / role / "meta" / "argument_specs.yml"
    if not path.is_file():
        pytest.fail(f"role {role}: meta/argument_specs.yml is missing")
    specs = (load(path) or {}).get("argument_specs") or {}
    return {name: (spec or {}).get("options") or {} for name, spec in specs.items()}


def same(a, b) -> bool:
    """Equality of parsed YAML that also tells true from 1 and "1" from 1."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[key], b[key]) for key in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def test_roles_found():
    assert ROLES, f"no role under {ROOT / 'roles'}"


@pytest.mark.parametrize("role", ROLES)
def test_role_has_argument_specs(role):
    path = ROOT / "roles" / role / "meta" / "argument_specs.yml"
    assert path.is_file(), f"role {role}: meta/argument_specs.yml is missing"
    specs = load(path) or {}
    assert isinstance(
        specs.get("argument_specs"), dict
    ), f"role {role}: meta/argument_specs.yml has no argument_specs mapping"
    assert "main" in specs["argument_specs"], f"role {role}: meta/argument_specs.yml has no 'main' entry point"


@pytest.mark.parametrize("role", ROLES)
def test_role_has_tasks_main(role):
    assert (ROOT / "roles" / role / "tasks" / "main.yml").is_file(), f"role {role}: tasks/main.yml is missing"


@pytest.mark.parametrize("role", ROLES)
def test_defaults_are_documented_in_main(role):
    main = entry_points(role).get("main", {})
    undocumented = [name for name in role_defaults(role) if name not in main]
    assert not undocumented, (
        f"role {role}: defaults/main.yml variable(s) not documented in meta/argument_specs.yml entry point 'main': "
        + ", ".join(undocumented)
    )


@pytest.mark.parametrize("role", ROLES)
def test_spec_defaults_equal_role_defaults(role):
    defaults = role_defaults(role)
    problems = []
    for entry_point, options in entry_points(role).items():
        for name, spec in options.items():
            if "default" not in (spec or {}):
                continue
            if name not in defaults:
                problems.append(
                    f"role {role}: entry point '{entry_point}' option {name} has default {spec['default']!r} "
                    "but defaults/main.yml does not define it"
                )
            elif not same(spec["default"], defaults[name]):
                problems.append(
                    f"role {role}: entry point '{entry_point}' option {name} has default {spec['default']!r}, "
                    f"defaults/main.yml has {defaults[name]!r}"
                )
    assert not problems, "\n".join(problems)
