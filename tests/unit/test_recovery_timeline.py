"""The recovery timeline: phases from module results, summary, SVG, and the callback in a real ansible-playbook run."""

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from module_runner import ROOT  # noqa: F401  (makes ansible_collections.hastack.openstack importable)
from ansible_collections.hastack.openstack.plugins.plugin_utils import timeline

FAULT = 1_800_000_000.0
EVENT = {"type": "COMPUTE_HOST", "hostname": "cmp1", "id": "n-1", "generated_time": "2027-01-15T08:00:00Z",
         "payload": {"event": "STOPPED", "host_status": "NORMAL", "cluster_status": "OFFLINE", "nested": {"x": 1}}}


def task(name, action, start, end, status="ok", result=None, **extra):
    record = {"name": name, "action": action, "host": "localhost", "status": status, "start": FAULT + start,
              "end": FAULT + end, "result": result or {}, "msg": (result or {}).get("msg")}
    record.update(extra)
    return record


def instance(name, action, start, end, target="cmp2"):
    return {"id": name + "-id", "name": name, "action": action, "vm_state_before": "active", "vm_state": "active",
            "expected_vm_state": "active", "target_host": target, "started_at": FAULT + start,
            "finished_at": FAULT + end, "seconds": end - start, "message": None, "admin_pass": "hidden"}


def host_run(instances, fenced=True):
    return [
        task("Ask the controllers for the cluster state", "hastack.openstack.cluster_info", 5, 6),
        task("Fence the host", "hastack.openstack.fence", 6, 12, "changed" if fenced else "failed",
             {"fenced": fenced, "action": "off", "completed": FAULT + 11.5 if fenced else None, "delegate": "ctl2",
              "seconds": 5.5, "msg": None if fenced else "cmp1 is NOT confirmed down"}),
        task("Force down", "hastack.openstack.compute_service", 12, 13, "changed",
             {"service": {"host": "cmp1", "binary": "nova-compute", "status": "disabled", "state": "down",
                          "forced_down": True, "disabled_reason": "x"}}),
        task("Evacuate", "hastack.openstack.host_evacuate", 13, 40, "changed",
             {"recovery_method_used": "auto", "reserved_host": None, "instances": instances,
              "summary": {"selected": len(instances)}, "auth_token": "secret-token"}),
    ]


def test_to_epoch_reads_epoch_numbers_and_iso_times():
    assert timeline.to_epoch(12.5) == 12.5
    assert timeline.to_epoch("12.5") == 12.5
    assert timeline.to_epoch("1970-01-01T00:01:00Z") == 60
    assert timeline.to_epoch("1970-01-01T00:01:00") == 60  # Masakari's naive times are UTC
    assert timeline.to_epoch("1970-01-01T01:01:00+01:00") == 60
    assert timeline.to_epoch("yesterday") is None
    assert timeline.to_epoch(None) is None


def test_host_recovery_milestones_are_seconds_since_the_generated_time():
    event = dict(EVENT, generated_time=FAULT)
    record = timeline.build(event, host_run([instance("vm1", "evacuated", 14, 30), instance("vm2", "evacuated", 14, 38)]),
                            FAULT + 5, FAULT + 41)
    assert record["outcome"] == "recovered"
    assert record["milestones"] == {"received": 5.0, "fenced": 11.5, "service_forced_down": 13.0, "recovered": 38.0}
    assert [item["name"] for item in record["instances"]] == ["vm1", "vm2"]
    assert record["run"]["seconds"] == 36.0
    assert record["event"]["payload"] == {"event": "STOPPED", "host_status": "NORMAL", "cluster_status": "OFFLINE"}


def test_only_listed_result_fields_reach_the_timeline():
    record = timeline.build(EVENT, host_run([instance("vm1", "evacuated", 14, 30)]), FAULT, FAULT + 41)
    text = json.dumps(record)
    assert "secret-token" not in text and "auth_token" not in text
    assert "admin_pass" not in text and "hidden" not in text
    assert "disabled_reason" not in text


def test_a_failed_fence_is_a_failed_recovery_with_no_recovered_milestone():
    record = timeline.build(EVENT, host_run([], fenced=False)[:2], FAULT, FAULT + 13)
    assert record["outcome"] == "failed"
    assert record["milestones"]["fenced"] is None
    assert record["milestones"]["recovered"] is None
    assert record["failed"] == [{"task": "Fence the host", "msg": "cmp1 is NOT confirmed down"}]
    assert any("NOT confirmed down" in line for line in timeline.summary_lines(record))


def test_a_failed_instance_leaves_the_run_unrecovered():
    instances = [instance("vm1", "evacuated", 14, 30), instance("vm2", "failed", 14, 35)]
    record = timeline.build(EVENT, host_run(instances), FAULT, FAULT + 41)
    assert record["milestones"]["recovered"] is None
    assert any(line.startswith("  FAILED vm2") for line in timeline.summary_lines(record))


def test_ignored_failures_do_not_fail_the_run():
    tasks = [task("Ask ctl1", "hastack.openstack.cluster_info", 1, 2, "failed", {"msg": "unreachable"}, ignored=True)]
    record = timeline.build(EVENT, tasks, FAULT, FAULT + 3)
    assert record["outcome"] == "nothing_to_do"
    assert record["failed"] == []


def test_nothing_to_evacuate_is_nothing_to_do():
    record = timeline.build(EVENT, host_run([]), FAULT, FAULT + 20)
    assert record["outcome"] == "nothing_to_do"
    assert record["milestones"]["fenced"] is not None


def test_instance_restart_counts_as_recovered():
    payload = {"instance_uuid": "u1", "event": "LIFECYCLE", "vir_domain_event": "STOPPED_FAILED"}
    event = {"type": "VM", "hostname": "cmp1", "payload": payload}
    tasks = [task("Restart", "hastack.openstack.instance_recover", 1, 9, "changed",
                  {"action": "recovered", "started_at": FAULT + 1, "finished_at": FAULT + 9, "seconds": 8,
                   "server": {"id": "u1", "name": "vm1", "status": "ACTIVE", "vm_state": "active", "host": "cmp1"}})]
    record = timeline.build(event, tasks, FAULT, FAULT + 10)
    assert record["outcome"] == "recovered"
    assert record["milestones"]["recovered"] == 9.0


def test_a_process_failure_is_recovered_by_taking_the_host_out_of_service():
    event = {"type": "PROCESS", "hostname": "cmp2", "payload": {"event": "STOPPED", "process_name": "nova-compute"}}
    acted = [task("Maintenance", "hastack.openstack.segment_host", 1, 2, "changed",
                  {"host": {"name": "cmp2", "on_maintenance": True, "reserved": False}}),
             task("Disable", "hastack.openstack.compute_service", 2, 63, "changed",
                  {"service": {"host": "cmp2", "binary": "nova-compute", "status": "disabled", "state": "up",
                               "forced_down": False}})]
    record = timeline.build(event, acted, FAULT, FAULT + 64)
    assert record["outcome"] == "recovered" and record["milestones"]["recovered"] == 63.0
    unchanged = [dict(item, status="ok") for item in acted]
    assert timeline.build(event, unchanged, FAULT, FAULT + 64)["outcome"] == "nothing_to_do"


def test_svg_has_a_bar_per_task_and_instance_and_the_milestones():
    record = timeline.build(dict(EVENT, generated_time=FAULT),
                            host_run([instance("vm1", "evacuated", 14, 30), instance("vm<2>", "evacuated", 14, 38)]),
                            FAULT + 5, FAULT + 41)
    svg = ET.fromstring(timeline.render_svg(record))
    ns = "{http://www.w3.org/2000/svg}"
    bars = [rect for rect in svg.iter(ns + "rect") if rect.find(ns + "title") is not None]
    assert len(bars) == 6  # 4 tasks + 2 instances
    texts = [text.text for text in svg.iter(ns + "text")]
    assert "fenced 11.5 s" in texts and "recovered 38.0 s" in texts
    assert "vm<2> -> cmp2" in texts  # escaped in the file, intact once parsed


PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: A step of the recovery
      ansible.builtin.debug:
        msg: step
    - name: A secret step
      ansible.builtin.set_fact:
        token: "{{ lookup('ansible.builtin.env', 'SECRET_VALUE') }}"
      no_log: true
    - name: A skipped step
      ansible.builtin.debug:
        msg: never
      when: false
"""


@pytest.mark.parametrize("with_event", [True, False])
def test_callback_writes_the_timeline_of_a_recovery_run_only(tmp_path, with_event):
    playbook = tmp_path / "play.yml"
    playbook.write_text(PLAYBOOK)
    env = dict(os.environ, ANSIBLE_CALLBACKS_ENABLED="hastack.openstack.recovery_timeline",
               HASTACK_TIMELINE_DIR=str(tmp_path / "timelines"), SECRET_VALUE="s3cr3t-value",
               ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".venv" / "collections"))
    command = [str(Path(sys.executable).with_name("ansible-playbook")), "-i", "localhost,", "-c", "local", str(playbook)]
    if with_event:
        command += ["-e", json.dumps({"recover_event": EVENT})]
    run = subprocess.run(command, env=env, capture_output=True, text=True, cwd=ROOT, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    written = sorted((tmp_path / "timelines").glob("*")) if (tmp_path / "timelines").exists() else []
    if not with_event:
        assert written == []
        return
    assert [path.suffix for path in written] == [".json", ".svg"]
    assert written[0].name.endswith("-COMPUTE_HOST-cmp1.json")
    record = json.loads(written[0].read_text())
    assert [item["name"] for item in record["tasks"]] == ["A step of the recovery", "A secret step", "A skipped step"]
    assert [item["status"] for item in record["tasks"]] == ["ok", "ok", "skipped"]
    assert "s3cr3t-value" not in written[0].read_text() + written[1].read_text() + run.stdout
    assert "hastack.openstack recover: COMPUTE_HOST cmp1 STOPPED -> nothing_to_do" in run.stdout


def test_instances_a_resumed_run_waited_for_are_recovered_by_it_but_not_those_done_before():
    waited = dict(instance("vm1", "already_evacuated", 14, 30), waited=True)
    before = dict(instance("vm2", "already_evacuated", 14, 15), waited=False)
    assert timeline.build(EVENT, host_run([waited, before]), FAULT, FAULT + 41)["outcome"] == "recovered"
    assert timeline.build(EVENT, host_run([before]), FAULT, FAULT + 41)["outcome"] == "nothing_to_do"
