"""Keep one object of the Pacemaker CIB as described: resource, constraint, fencing level, or option set.

Installed on the cluster nodes by the hastack.openstack.pacemaker role and run by it with the object on stdin,
as JSON: {"resource"|"constraint"|"fencing_level": {...}} or {"options": {...}, "options_type": "crm_config"},
or {"batch": [{"resource": {...}}, {"constraint": {...}}, ...]} (applied in one CIB update),
optionally "state": "present"|"absent" (also allowed inside the object) and "check_mode": true.
Prints {"changed": bool, ...} as JSON; exits 1 with {"failed": true, "msg": ...} on errors.

The object's XML is built from a CLI-independent description, the object currently in the live CIB is read with
`cibadmin --query`, and the CIB is changed only when they differ (`cibadmin --create`, `--replace`,
`--delete`); cluster options are compared and set one by one with `crm_attribute`. XML goes to cibadmin on stdin,
never on the command line, so secrets in instance attributes do not show up in the process list.

  resource:      id, agent (class:provider:type or class:type), params, meta (dicts), ops (list of dicts with
                 name, interval, ...), clone ({id, meta}) or absent
  constraint:    type (location|order|colocation), id, and the element's attributes (rsc, node, score, first, ...);
                 a location may have rules instead of node/score: [{score, boolean-op, expressions: [{attribute,
                 operation, value}]}]
  fencing_level: target, index, devices (list)
"""

import json
import subprocess
import sys
import xml.etree.ElementTree as ET

SECTIONS = {"resource": "resources", "constraint": "constraints", "fencing_level": "fencing-topology"}
CONSTRAINT_TAGS = {"location": "rsc_location", "order": "rsc_order", "colocation": "rsc_colocation"}
NOT_FOUND = 105  # CRM_EX_NOSUCH


def _text(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _nvset(parent, tag, owner_id, values):
    if not values:
        return
    nvset = ET.SubElement(parent, tag, {"id": f"{owner_id}-{tag}"})
    for name, value in values.items():
        ET.SubElement(nvset, "nvpair", {"id": f"{owner_id}-{tag}-{name}", "name": name, "value": _text(value)})


def build_primitive(spec):
    parts = spec["agent"].split(":")
    if len(parts) == 3:
        attrs = {"id": spec["id"], "class": parts[0], "provider": parts[1], "type": parts[2]}
    elif len(parts) == 2:
        attrs = {"id": spec["id"], "class": parts[0], "type": parts[1]}
    else:
        raise ValueError(f"resource {spec['id']}: agent '{spec['agent']}' is not class:provider:type or class:type")
    primitive = ET.Element("primitive", attrs)
    _nvset(primitive, "instance_attributes", spec["id"], spec.get("params") or {})
    _nvset(primitive, "meta_attributes", spec["id"], spec.get("meta") or {})
    ops = spec.get("ops") or []
    if ops:
        operations = ET.SubElement(primitive, "operations")
        for op in ops:
            op_attrs = {key: _text(value) for key, value in op.items()}
            op_attrs["id"] = f"{spec['id']}-{op['name']}-interval-{op.get('interval', '0')}"
            ET.SubElement(operations, "op", op_attrs)
    return primitive


def build_resource(spec):
    primitive = build_primitive(spec)
    clone_spec = spec.get("clone")
    if not clone_spec:
        return primitive
    clone = ET.Element("clone", {"id": clone_spec.get("id") or f"{spec['id']}-clone"})
    _nvset(clone, "meta_attributes", clone.get("id"), clone_spec.get("meta") or {})
    clone.append(primitive)
    return clone


def build_constraint(spec):
    kind = spec.get("type")
    if kind not in CONSTRAINT_TAGS:
        raise ValueError(f"constraint {spec.get('id')}: type must be one of {', '.join(CONSTRAINT_TAGS)}")
    attrs = {key: _text(value) for key, value in spec.items() if key not in ("type", "rules")}
    constraint = ET.Element(CONSTRAINT_TAGS[kind], attrs)
    for number, rule in enumerate(spec.get("rules") or [], start=1):
        rule_id = f"{spec['id']}-rule-{number}"
        rule_attrs = {"id": rule_id, "score": _text(rule.get("score", "INFINITY"))}
        if rule.get("boolean-op"):
            rule_attrs["boolean-op"] = rule["boolean-op"]
        element = ET.SubElement(constraint, "rule", rule_attrs)
        for index, expression in enumerate(rule["expressions"], start=1):
            expression_attrs = {key: _text(value) for key, value in expression.items()}
            expression_attrs["id"] = f"{rule_id}-expr-{index}"
            ET.SubElement(element, "expression", expression_attrs)
    return constraint


def build_fencing_level(spec):
    target, index = spec["target"], int(spec["index"])
    return ET.Element(
        "fencing-level",
        {"id": f"fl-{target}-{index}", "target": target, "index": str(index), "devices": ",".join(spec["devices"])},
    )


def canonical(element):
    """Comparable form of an element: tag, attributes, children in order; whitespace ignored."""
    return (element.tag, tuple(sorted(element.attrib.items())), tuple(canonical(child) for child in element))


class Failure(Exception):
    pass


class Cib:
    def __init__(self, check_mode=False):
        self.check_mode = check_mode

    @staticmethod
    def run(args, data=None, ok=(0,)):
        result = subprocess.run(args, input=data, capture_output=True, text=True, check=False)
        if result.returncode not in ok:
            detail = result.stderr.strip() or result.stdout.strip()
            raise Failure(f"{' '.join(args[:2])} failed (rc={result.returncode}): {detail}")
        return result.returncode, result.stdout

    def query(self, xpath):
        rc, out = self.run(["cibadmin", "--query", "--xpath", xpath], ok=(0, NOT_FOUND))
        if rc == NOT_FOUND or not out.strip():
            return None
        return ET.fromstring(out)

    def ensure(self, section, desired, state):
        object_id = desired.get("id")
        current = self.query(f"/cib/configuration/{section}/*[@id='{object_id}']")
        if state == "absent":
            if current is None:
                return False
            if not self.check_mode:
                stub = ET.tostring(ET.Element(current.tag, {"id": object_id}), encoding="unicode")
                self.run(["cibadmin", "--delete", "--scope", section, "--xml-pipe"], data=stub)
            return True
        if current is not None and canonical(current) == canonical(desired):
            return False
        if current is not None and current.tag != desired.tag:
            raise Failure(f"CIB object {object_id} is a {current.tag}, not a {desired.tag}: remove it first")
        if self.check_mode:
            return True
        xml = ET.tostring(desired, encoding="unicode")
        if current is not None:
            self.run(["cibadmin", "--replace", "--scope", section, "--xml-pipe"], data=xml)
        elif self.query(f"/cib/configuration/{section}") is None:
            wrapper = ET.Element(section)
            wrapper.append(desired)
            self.run(
                ["cibadmin", "--create", "--scope", "configuration", "--xml-pipe"],
                data=ET.tostring(wrapper, encoding="unicode"),
            )
        else:
            self.run(["cibadmin", "--create", "--scope", section, "--xml-pipe"], data=xml)
        return True

    def ensure_options(self, options, options_type):
        changed = []
        for name, value in options.items():
            wanted = _text(value)
            rc, out = self.run(
                ["crm_attribute", "--type", options_type, "--name", name, "--query", "--quiet"], ok=(0, NOT_FOUND)
            )
            if rc == 0 and out.strip() == wanted:
                continue
            changed.append(name)
            if not self.check_mode:
                self.run(["crm_attribute", "--type", options_type, "--name", name, "--update", wanted])
        return changed

    def ensure_batch(self, objects):
        """Several objects in one CIB update (e.g. resources and the constraints that confine them, so the
        scheduler never sees the resources without their constraints): the configuration section is read, changed
        in memory where objects differ, and replaced in one step."""
        config = self.query("/cib/configuration")
        changed = []
        for kind, spec, state in objects:
            desired = BUILDERS[kind](spec)
            section = config.find(SECTIONS[kind])
            if section is None:
                section = ET.SubElement(config, SECTIONS[kind])
            current = section.find(f"./*[@id='{desired.get('id')}']")
            if state == "absent":
                if current is not None:
                    section.remove(current)
                    changed.append(desired.get("id"))
            elif current is None:
                section.append(desired)
                changed.append(desired.get("id"))
            elif canonical(current) != canonical(desired):
                section[list(section).index(current)] = desired
                changed.append(desired.get("id"))
        if changed and not self.check_mode:
            self.run(
                ["cibadmin", "--replace", "--scope", "configuration", "--xml-pipe"],
                data=ET.tostring(config, encoding="unicode"),
            )
        return changed


BUILDERS = {"resource": build_resource, "constraint": build_constraint, "fencing_level": build_fencing_level}


def parse_object(kind, request_object, default_state):
    spec = dict(request_object)
    state = spec.pop("state", None) or default_state or "present"
    if state not in ("present", "absent"):
        raise Failure(f"{kind} {spec.get('id', '')}: state must be present or absent, not {state}")
    try:
        BUILDERS[kind](spec)
    except (KeyError, ValueError) as exc:
        raise Failure(f"invalid {kind}: {exc}") from exc
    return kind, spec, state


def apply(request):
    cib = Cib(check_mode=bool(request.get("check_mode")))
    if request.get("options") is not None:
        options_type = request.get("options_type", "crm_config")
        if options_type not in ("crm_config", "rsc_defaults", "op_defaults"):
            raise Failure(f"options_type {options_type} is not crm_config, rsc_defaults or op_defaults")
        changed = cib.ensure_options(request["options"], options_type)
        return {"changed": bool(changed), "changed_options": changed}
    if request.get("batch") is not None:
        objects = []
        for item in request["batch"]:
            kinds = [kind for kind in BUILDERS if item.get(kind) is not None]
            if len(kinds) != 1:
                raise Failure("each batch item has exactly one of resource, constraint, fencing_level")
            objects.append(parse_object(kinds[0], item[kinds[0]], request.get("state")))
        changed = cib.ensure_batch(objects)
        return {"changed": bool(changed), "changed_ids": changed}
    kinds = [kind for kind in BUILDERS if request.get(kind) is not None]
    if len(kinds) != 1:
        raise Failure("give exactly one of resource, constraint, fencing_level, options")
    kind, spec, state = parse_object(kinds[0], request[kinds[0]], request.get("state"))
    desired = BUILDERS[kind](spec)
    changed = cib.ensure(SECTIONS[kind], desired, state)
    return {"changed": changed, "id": desired.get("id"), "state": state}


def main():
    try:
        result = apply(json.load(sys.stdin))
    except (Failure, ValueError) as exc:
        print(json.dumps({"failed": True, "msg": str(exc)}))
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
