"""The Pacemaker modules (cluster_info, fencing_info, fence) and module_utils/pacemaker.py.

The modules run in-process, as Ansible runs them, on a fake cluster node: ``FakeNode`` stands in for
``AnsibleModule.run_command`` and ``get_bin_path`` and answers crm_mon and stonith_admin with XML, either the
samples of tests/unit/fixtures/pacemaker/ (written after Pacemaker's xml/api schemas and output code, 2.1 and
3.0 attribute sets) or histories generated in the same format. Time is a fake clock (module_utils.pacemaker's
``now``/``sleep``), so waiting costs nothing.
"""

import calendar
import json
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from unittest import mock

import pytest
import yaml
from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args

from module_runner import load  # also makes ansible_collections.hastack.openstack importable
from ansible_collections.hastack.openstack.plugins.module_utils import pacemaker as pcmk

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "pacemaker"
# 2026-11-23T19:00:00Z: the failure; the fake node's clock starts a minute later.
T0 = float(calendar.timegm((2026, 11, 23, 19, 0, 0, 0, 0, 0)))
CRM_MON_ARGV = ["/usr/sbin/crm_mon", "--one-shot", "--inactive", "--output-as=xml"]


def fixture(name):
    return (FIXTURES / name).read_text()


# --- generated stonith_admin output ----------------------------------------------------------------------


def pacemaker_time(epoch, version="3.0"):
    """A completion time as Pacemaker writes it on a UTC node (3.0 with microseconds, 2.1 without)."""
    text = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(int(epoch)))
    if version == "3.0":
        text += ".%06d" % round((epoch - int(epoch)) * 1e6)
    return text + "Z"


def event(target="cmp2", action="off", status="success", completed=None, delegate="ctl1", origin="ctl1",
          client="stonith_admin.4321", exit_reason=None, version="3.0"):
    attrs = [("action", action), ("target", target), ("client", client), ("origin", origin), ("status", status)]
    if status == "failed" and exit_reason:
        attrs.append(("exit-reason", exit_reason))
    if status == "pending":
        attrs.append(("extended-status", "1"))
    if delegate and status != "pending":
        attrs.append(("delegate", delegate))
    if completed is not None and status != "pending":
        attrs.append(("completed", pacemaker_time(completed, version)))
    return "<fence_event %s/>" % " ".join('%s="%s"' % pair for pair in attrs)


def history_xml(node, events):
    return ('<pacemaker-result api-version="2.38" request="stonith_admin --history=%s --verbose --output-as=xml">\n'
            '  <list name="fencing history" count="%d">\n    %s\n  </list>\n'
            '  <status code="0" message="OK"/>\n</pacemaker-result>\n') % (node, len(events), "\n    ".join(events))


class FakeNode:
    """A cluster node as the modules see it: tools on PATH, crm_mon, stonith_admin's history and fencing."""

    def __init__(self, tools=("crm_mon", "stonith_admin", "timeout"), crm_mon="crm_mon-3.0-compute-failed.xml"):
        self.paths = {name: ("/usr/bin/" if name == "timeout" else "/usr/sbin/") + name for name in tools}
        self.clock = T0 + 60
        self.calls = []
        self.environ = []
        self.sleeps = []
        self.warnings = []
        self.crm_mon = (0, fixture(crm_mon), "") if crm_mon else None
        # node -> list of event XML strings (newest first), answered as stonith_admin --history would.
        self.events = {}
        # Fixed answer to every history read (overrides events), e.g. a fixture or an error.
        self.history_answer = None
        # History reads that still answer without the events the fencing added (the fencer is slow to record).
        self.hidden_reads = 0
        self.fence_answer = (0, fixture("fence-ok.xml"), "")
        self.fence_seconds = 8.4
        # What the fencing leaves in the history: None (nothing), or keyword arguments of event().
        self.fence_event = dict(status="success", delegate="ctl1")
        self.fence_calls = []
        self._before_fence = None

    # --- AnsibleModule stand-ins (patched onto the class as bound methods of this node: no module argument)
    def get_bin_path(self, name, required=False, opt_dirs=None):
        return self.paths.get(name)

    def run_command(self, args, check_rc=False, environ_update=None, **kwargs):
        assert isinstance(args, list), "commands must be argv lists, never shell strings"
        assert "use_unsafe_shell" not in kwargs
        full = list(args)
        self.calls.append(full)
        self.environ.append(environ_update)
        if args[0] == self.paths.get("timeout"):
            assert args[1] == "--kill-after=10" and args[2].isdigit()
            args = args[3:]
        tool = args[0].rsplit("/", 1)[-1]
        if tool == "crm_mon":
            return self.crm_mon
        assert tool == "stonith_admin", args
        option, value = args[1].split("=", 1)
        if option == "--history":
            assert args[2:] == ["--verbose", "--output-as=xml"]
            return self._history(value)
        assert option in ("--fence", "--reboot"), args
        return self._fence(value, "off" if option == "--fence" else "reboot", full)

    def _history(self, node):
        if self.history_answer is not None:
            return self.history_answer
        events = self.events.get(node, [])
        if self.hidden_reads and self._before_fence is not None:
            self.hidden_reads -= 1
            events = self._before_fence
        return 0, history_xml(node, events), ""

    def _fence(self, node, action, argv):
        self.fence_calls.append(argv)
        self._before_fence = list(self.events.get(node, []))
        self.clock += self.fence_seconds
        if self.fence_event is not None:
            fields = dict(dict(target=node, action=action, completed=self.clock), **self.fence_event)
            self.events[node] = [event(**fields)] + self.events.get(node, [])
        return self.fence_answer

    def now(self):
        return self.clock

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.clock += seconds

    def warn(self, warning):
        self.warnings.append(warning)

    # --- what the tests look at
    def fences(self):
        return len(self.fence_calls)


class ModuleExit(Exception):
    def __init__(self, result):
        super().__init__(result.get("msg", ""))
        self.result = result


def _exit_json(module, **kwargs):
    kwargs.setdefault("changed", False)
    kwargs["failed"] = False
    raise ModuleExit(json.loads(json.dumps(kwargs)))


def _fail_json(module, msg, **kwargs):
    kwargs.update(msg=msg, failed=True)
    raise ModuleExit(json.loads(json.dumps(kwargs, default=str)))


def run(name, host, check_mode=False, **args):
    """Result of module ``name`` run with ``args`` on ``host`` (a FakeNode); successful results are checked against RETURN."""
    module = load(name)
    result = None
    with mock.patch.object(basic.AnsibleModule, "exit_json", _exit_json), \
            mock.patch.object(basic.AnsibleModule, "fail_json", _fail_json), \
            mock.patch.object(basic.AnsibleModule, "get_bin_path", host.get_bin_path), \
            mock.patch.object(basic.AnsibleModule, "run_command", host.run_command), \
            mock.patch.object(basic.AnsibleModule, "warn", host.warn), \
            mock.patch.object(pcmk, "now", host.now), \
            mock.patch.object(pcmk, "sleep", host.sleep), \
            patch_module_args(dict(args, _ansible_check_mode=check_mode)):
        try:
            module.main()
        except ModuleExit as done:
            result = done.result
    assert result is not None, "module %s returned without exit_json or fail_json" % name
    if not result["failed"]:
        assert_documented(name, result)
    return result


def _check_contains(where, value, contains):
    items = value if isinstance(value, list) else [value]
    for item in items:
        if isinstance(item, dict):
            assert set(item) == set(contains), "%s returns keys %s but documents %s" % (where, sorted(item), sorted(contains))
            for key, doc in contains.items():
                if doc.get("contains"):
                    _check_contains("%s.%s" % (where, key), item[key], doc["contains"])


def assert_documented(name, result):
    """Every key of a result is in RETURN, and every dict in it has exactly the documented keys, at any depth."""
    doc = yaml.safe_load(load(name).RETURN)
    for key, value in result.items():
        if key in ("changed", "failed", "invocation", "warnings"):
            continue
        assert key in doc, "%s returns %r, which RETURN does not document" % (name, key)
        if doc[key].get("contains") and value is not None:
            _check_contains("%s: %s" % (name, key), value, doc[key]["contains"])


@pytest.fixture
def node():
    return FakeNode()


# === module_utils: times ==================================================================================


@pytest.mark.parametrize("text, expected", [
    ("2026-11-23 19:00:42.512345Z", T0 + 42.512345),  # Pacemaker 3.0 on a UTC node
    ("2026-11-23 19:00:42Z", T0 + 42),  # Pacemaker 2.1 on a UTC node
    ("2026-11-23 20:00:42 +01:00", T0 + 42),  # 2.1 elsewhere
    ("2026-11-23 14:00:42.5 -05:00", T0 + 42.5),
    ("2026-11-23T19:00:42+0000", T0 + 42),
    ("2026-11-23T20:30:42+01:30", T0 + 42),
    ("2026-11-23T19:00:42,25Z", T0 + 42.25),
    ("  2026-11-23T19:00Z ", T0),
])
def test_parse_timestamp(text, expected):
    assert pcmk.parse_timestamp(text) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("text", [None, "", "whenever", "Mon Nov 23 19:00:42 2026", "2026-13-23 19:00:42Z",
                                  "2026-11-23 25:00:42Z", "2026-11-23", "<undefined time>"])
def test_parse_timestamp_unreadable(text):
    assert pcmk.parse_timestamp(text) is None


def test_parse_timestamp_without_zone():
    assert pcmk.parse_timestamp("2026-11-23T19:00:42") == T0 + 42
    assert pcmk.parse_timestamp("2026-11-23 19:00:42", naive_utc=False) is None


@pytest.mark.parametrize("value, expected", [
    (None, None),
    ("", None),
    (T0, T0),
    (int(T0), T0),
    ("%d" % T0, T0),
    ("%.3f" % (T0 + 0.5), T0 + 0.5),
    ("2026-11-23T19:00:00Z", T0),
    ("2026-11-23T19:00:00.000000", T0),  # Masakari's generated_time: naive UTC
    ("2026-11-23T20:00:00+01:00", T0),
    ("2026-11-23 19:00:00Z", T0),
])
def test_parse_since(value, expected):
    assert pcmk.parse_since(value) == expected


@pytest.mark.parametrize("value", [True, "yesterday", "2026-11-23T19", -1, float("nan"), "inf", [T0]])
def test_parse_since_invalid(value):
    with pytest.raises(ValueError):
        pcmk.parse_since(value)


# === module_utils: crm_mon ================================================================================


def cluster_from(name):
    return pcmk.parse_crm_mon(pcmk.parse_result(fixture(name), "crm_mon"))


def by_name(items, name, key="name"):
    found = [item for item in items if item[key] == name]
    assert len(found) == 1, (name, items)
    return found[0]


def test_crm_mon_healthy_3_0():
    cluster = cluster_from("crm_mon-3.0-healthy.xml")
    assert cluster["quorum"] is True
    assert cluster["dc"] == "ctl1"
    assert cluster["stack"] == "corosync"
    assert cluster["stonith_enabled"] is True and cluster["maintenance_mode"] is False
    assert [n["name"] for n in cluster["nodes"]] == ["ctl1", "ctl2", "ctl3", "cmp1", "cmp2"]
    assert by_name(cluster["nodes"], "ctl1") == dict(
        name="ctl1", id="1", type="member", online=True, standby=False, standby_onfail=False, maintenance=False,
        pending=False, unclean=False, shutdown=False, expected_up=True, is_dc=True, resources_running=4, health="green")
    cmp1 = by_name(cluster["nodes"], "cmp1")
    assert (cmp1["type"], cmp1["id"], cmp1["online"], cmp1["is_dc"], cmp1["expected_up"]) == ("remote", "cmp1", True, False, False)

    resources = cluster["resources"]
    assert by_name(resources, "fence-cmp1", "id") == dict(
        id="fence-cmp1", agent="stonith:fence_ipmilan", role="Started", active=True, failed=False, managed=True,
        parent=None, nodes=["ctl2"])
    remote = by_name(resources, "cmp2", "id")
    assert (remote["agent"], remote["role"], remote["nodes"]) == ("ocf:pacemaker:remote", "Started", ["ctl2"])
    haproxy = [r for r in resources if r["id"] == "haproxy"]
    assert len(haproxy) == 5 and {r["parent"] for r in haproxy} == {"haproxy-clone"}
    assert [r["nodes"] for r in haproxy] == [["ctl1"], ["ctl2"], ["ctl3"], [], []]
    assert [r["active"] for r in haproxy] == [True, True, True, False, False]
    # Only primitives: the node_history section's resource_history entries are not resources.
    assert len(resources) == 10
    assert cluster["fencing_in_progress"] == [] and cluster["fence_failures"] == []
    assert cluster["fence_history_error"] is None


def test_crm_mon_compute_failed_3_0():
    cluster = cluster_from("crm_mon-3.0-compute-failed.xml")
    assert cluster["quorum"] is True and cluster["dc"] == "ctl2"
    cmp2 = by_name(cluster["nodes"], "cmp2")
    assert (cmp2["online"], cmp2["unclean"], cmp2["type"]) == (False, True, "remote")
    ctl3 = by_name(cluster["nodes"], "ctl3")
    assert (ctl3["online"], ctl3["unclean"], ctl3["expected_up"], ctl3["health"]) == (False, False, False, "green")
    assert by_name(cluster["resources"], "cmp2", "id")["failed"] is True
    assert cluster["fencing_in_progress"] == ["cmp2"]
    assert cluster["fence_failures"] == [dict(
        target="cmp2", action="off", status="failed", completed=pytest.approx(T0 + 21.318004),
        completed_text="2026-11-23 19:00:21.318004Z", delegate="ctl1", origin="ctl2", client="pacemaker-controld.1873",
        exit_reason="Agent returned error", extended_status=None)]


def test_crm_mon_minority_partition_2_1():
    cluster = cluster_from("crm_mon-2.1-no-quorum.xml")
    assert cluster["quorum"] is False
    assert cluster["dc"] == "ctl1"
    assert [(n["name"], n["online"], n["unclean"]) for n in cluster["nodes"]] == [
        ("ctl1", True, False), ("ctl2", False, True), ("ctl3", False, True), ("cmp1", False, False)]
    # 2.1 has no maintenance attribute on resources; a group is the parent of its members.
    assert [(r["id"], r["parent"], r["managed"], r["active"]) for r in cluster["resources"]] == [
        ("fence-cmp1", None, True, False), ("cmp1", None, True, False), ("vip", "api", True, False),
        ("api-proxy", "api", False, False)]
    assert cluster["fencing_in_progress"] == []
    assert [(e["action"], e["completed"]) for e in cluster["fence_failures"]] == [("off", T0 - 40 * 60 + 2)]


def test_crm_mon_without_dc():
    cluster = cluster_from("crm_mon-no-dc.xml")
    assert (cluster["quorum"], cluster["dc"]) == (False, None)
    assert by_name(cluster["nodes"], "ctl1")["pending"] is True
    assert cluster["resources"] == []
    assert "fence_history status 102" in cluster["fence_history_error"]


def test_crm_mon_tolerates_newer_and_unknown_attributes():
    cluster = cluster_from("crm_mon-3.1-extra.xml")
    # fencing-enabled (3.0.2+) wins over the deprecated stonith-enabled.
    assert cluster["stonith_enabled"] is False
    assert cluster["maintenance_mode"] is True
    ctl1 = by_name(cluster["nodes"], "ctl1")
    assert (ctl1["resources_running"], ctl1["health"]) == (0, "yellow")
    cmp1 = by_name(cluster["nodes"], "cmp1")
    assert (cmp1["standby"], cmp1["standby_onfail"], cmp1["maintenance"], cmp1["health"]) == (True, False, True, None)
    assert [(r["id"], r["parent"], r["role"], r["nodes"]) for r in cluster["resources"]] == [
        ("web-bundle-podman-0", "web-bundle", "Started", ["ctl1"]), ("db", "db-clone", "Starting", [])]
    events = pcmk.parse_fence_history(pcmk.parse_result(fixture("crm_mon-3.1-extra.xml"), "crm_mon"))
    assert [e["completed"] for e in events] == [T0 + 42.5, None]  # unreadable times last


def test_crm_mon_minimal_tree():
    root = pcmk.parse_result('<pacemaker-result><nodes><node name="a"/></nodes></pacemaker-result>', "crm_mon")
    cluster = pcmk.parse_crm_mon(root)
    assert (cluster["quorum"], cluster["dc"], cluster["stack"], cluster["stonith_enabled"]) == (False, None, None, None)
    assert cluster["nodes"][0]["type"] == "unknown" and cluster["nodes"][0]["online"] is False
    # Primitives inside containers a later Pacemaker may add are still found, with that container as parent.
    root = pcmk.parse_result('<pacemaker-result><nodes/><resources><future_set id="s"><resource id="r" active="true"/>'
                             '</future_set><empty_thing id="e"/></resources></pacemaker-result>', "crm_mon")
    assert [(r["id"], r["parent"], r["active"], r["managed"]) for r in pcmk.parse_crm_mon(root)["resources"]] == [
        ("r", "s", True, True)]
    with pytest.raises(pcmk.PacemakerError, match="neither a summary nor a node list"):
        pcmk.parse_crm_mon(pcmk.parse_result("<pacemaker-result/>", "crm_mon"))


def test_parse_result_errors():
    with pytest.raises(pcmk.PacemakerError, match="wrote no XML"):
        pcmk.parse_result("Segmentation fault\n", "crm_mon")
    with pytest.raises(pcmk.PacemakerError, match="cannot be parsed"):
        pcmk.parse_result("<pacemaker-result><summary>", "crm_mon")
    # Anything before the XML (a stray warning on stdout) is skipped.
    assert pcmk.parse_result("warning: x\n<a/>", "crm_mon").tag == "a"


def test_describe_failure():
    root = pcmk.parse_result(fixture("crm_mon-disconnected.xml"), "crm_mon")
    text = pcmk.describe_failure(root, 102, "")
    assert "Lost connection to something" in text and "cluster is not available on this node" in text
    assert "pacemakerd shutting_down" in text
    assert pcmk.result_status(root) == dict(code=102, message="Lost connection to something",
                                            errors=["crm_mon: Error: cluster is not available on this node"])
    assert pcmk.describe_failure(None, 1, "line1\nError: boom\n") == "line1 Error: boom"
    assert pcmk.describe_failure(None, 7, "") == "exit code 7"


# === module_utils: fencing history and the confirmation rule ==============================================


def test_history_3_0():
    events = pcmk.parse_fence_history(pcmk.parse_result(fixture("history-3.0-cmp2.xml"), "stonith_admin"))
    assert [(e["status"], e["action"]) for e in events] == [
        ("pending", "off"), ("success", "off"), ("failed", "off"), ("success", "on")]
    assert events[0]["completed"] is None and events[0]["extended_status"] == "1" and events[0]["delegate"] is None
    assert events[1]["completed"] == pytest.approx(T0 + 42.512345)
    assert events[2]["exit_reason"] == "Agent returned error"


def test_history_2_1():
    events = pcmk.parse_fence_history(pcmk.parse_result(fixture("history-2.1-cmp1.xml"), "stonith_admin"))
    assert [(e["status"], e["action"], e["completed"]) for e in events] == [
        ("success", "reboot", T0 + 42), ("failed", "off", T0 - 40 * 60 + 2),
        ("success", "off", float(calendar.timegm((2026, 11, 20, 8, 15, 3, 0, 0, 0))))]


def test_sort_events():
    events = [pcmk.parse_fence_event(ET.fromstring(xml)) for xml in (
        event(completed=T0 + 1), event(status="pending"), event(completed=T0 + 5, status="failed"),
        '<fence_event action="off" target="cmp2" status="success" completed="garbage"/>')]
    assert [(e["status"], e["completed"]) for e in pcmk.sort_events(events)] == [
        ("pending", None), ("failed", T0 + 5), ("success", T0 + 1), ("success", None)]


def confirm(events, since=None, target="cmp2"):
    root = pcmk.parse_result(history_xml(target, events), "stonith_admin")
    return pcmk.confirmation(pcmk.parse_fence_history(root), target, since)


@pytest.mark.parametrize("events, since, confirmed", [
    ([], None, False),  # never fenced
    ([], T0, False),
    ([event(completed=T0 - 1)], T0, False),  # success before since
    ([event(completed=T0 - 0.000001)], T0, False),
    ([event(completed=T0)], T0, True),  # at since
    ([event(completed=T0 + 30)], T0, True),  # after since
    ([event(completed=T0 - 3600)], None, True),  # without since, any success
    ([event(action="reboot", completed=T0 + 30)], T0, True),  # reboot: it went down then
    ([event(action="on", completed=T0 + 30)], T0, False),  # unfencing confirms nothing
    ([event(status="failed", completed=T0 + 30)], T0, False),
    ([event(status="failed", completed=T0 + 30)], None, False),
    ([event(status="pending")], T0, False),
    ([event(status="pending")], None, False),
    ([event(status="pending"), event(status="failed", completed=T0 + 5), event(completed=T0 - 5)], T0, False),
    ([event(status="pending"), event(completed=T0 + 5)], T0, True),  # a later attempt does not undo a success
    ([event(target="cmp1", completed=T0 + 30)], T0, False),  # another node
    ([event(target="CMP2", completed=T0 + 30)], T0, True),  # node names compare case-insensitively
    (['<fence_event action="off" target="cmp2" status="success" completed="whenever"/>'], T0, False),  # unreadable
    (['<fence_event action="off" target="cmp2" status="success" completed="whenever"/>'], None, True),
])
def test_confirmation_rule(events, since, confirmed):
    found = confirm(events, since)
    assert found["confirmed_down"] is confirmed
    assert (found["event"] is not None) is confirmed
    if confirmed:
        assert found["event"]["status"] == "success" and found["event"]["action"] in ("off", "reboot")


def test_confirmation_details():
    found = confirm([event(status="pending"), event(completed=T0 + 42, delegate="ctl3"),
                     event(status="failed", completed=T0 + 21), event(completed=T0 - 600, action="reboot"),
                     event(action="on", completed=T0 - 300, status="failed")], T0)
    assert found["confirmed_down"] and found["event"]["delegate"] == "ctl3"
    assert found["last_success"] == found["event"]
    assert found["last_failure"]["completed"] == T0 + 21  # an "on" failure is no fencing failure
    assert found["pending"] is True
    assert [e["status"] for e in found["history"]] == ["pending", "success", "failed", "failed", "success"]
    later = confirm([event(completed=T0 - 600, action="reboot")], T0)
    assert not later["confirmed_down"] and later["last_success"]["action"] == "reboot"


# === cluster_info =========================================================================================


@pytest.mark.parametrize("check_mode", [False, True])
def test_cluster_info(node, check_mode):
    node.crm_mon = (0, fixture("crm_mon-3.0-compute-failed.xml"), "")
    result = run("cluster_info", node, check_mode=check_mode)
    assert not result["failed"] and not result["changed"]
    assert node.calls == [CRM_MON_ARGV]
    assert node.environ == [dict(LC_ALL="C", LANG="C")]
    assert result["cluster"] == cluster_from("crm_mon-3.0-compute-failed.xml")
    assert result["cluster"]["fencing_in_progress"] == ["cmp2"]
    assert node.warnings == []


def test_cluster_info_2_1(node):
    node.crm_mon = (0, fixture("crm_mon-2.1-no-quorum.xml"), "")
    result = run("cluster_info", node)
    assert result["cluster"]["quorum"] is False and result["cluster"]["dc"] == "ctl1"


def test_cluster_info_warns_without_fence_history(node):
    node.crm_mon = (0, fixture("crm_mon-no-dc.xml"), "")
    result = run("cluster_info", node)
    assert not result["failed"]
    assert len(node.warnings) == 1 and "fence_history status 102" in node.warnings[0]


def test_cluster_info_disconnected(node):
    node.crm_mon = (102, fixture("crm_mon-disconnected.xml"), "")
    result = run("cluster_info", node)
    assert result["failed"]
    assert result["msg"].startswith("Cannot read the cluster state: crm_mon failed: Lost connection to something")
    assert "cluster is not available on this node" in result["msg"]
    assert result["rc"] == 102 and result["cmd"] == " ".join(CRM_MON_ARGV)


def test_cluster_info_error_without_xml(node):
    node.crm_mon = (1, "", "crm_mon: Could not connect: Permission denied\n")
    result = run("cluster_info", node)
    assert result["failed"] and "Permission denied" in result["msg"]


def test_cluster_info_unreadable_output(node):
    node.crm_mon = (0, "<pacemaker-result><summary>", "")
    result = run("cluster_info", node)
    assert result["failed"] and "cannot be parsed" in result["msg"]


def test_cluster_info_without_crm_mon():
    node = FakeNode(tools=("stonith_admin",))
    result = run("cluster_info", node)
    assert result["failed"] and node.calls == []
    assert "crm_mon was not found" in result["msg"] and "pacemaker-cli-utils" in result["msg"]


# === fencing_info =========================================================================================


def test_fencing_info_confirmed_3_0(node):
    node.history_answer = (0, fixture("history-3.0-cmp2.xml"), "")
    result = run("fencing_info", node, node="cmp2", since="2026-11-23T19:00:00Z")
    assert not result["failed"] and not result["changed"]
    assert node.calls == [CRM_MON_ARGV, ["/usr/sbin/stonith_admin", "--history=cmp2", "--verbose", "--output-as=xml"]]
    assert result["confirmed_down"] is True
    assert result["since"] == T0
    assert result["event"] == result["last_success"]
    assert result["last_success"] == dict(
        target="cmp2", action="off", status="success", completed=pytest.approx(T0 + 42.512345),
        completed_text="2026-11-23 19:00:42.512345Z", delegate="ctl1", origin="ctl1", client="stonith_admin.90210",
        exit_reason=None, extended_status=None)
    assert result["last_failure"]["exit_reason"] == "Agent returned error"
    assert result["pending"] is True
    assert [e["status"] for e in result["history"]] == ["pending", "success", "failed", "success"]
    assert result["node"]["name"] == "cmp2" and result["node"]["unclean"] is True
    assert "error" not in result


@pytest.mark.parametrize("since, confirmed", [
    (T0 + 42.512345, True),  # exactly at the completion
    (T0 + 43, False),  # after it: an older fencing does not count
    ("2026-11-23T19:00:43Z", False),
    (None, True),
])
def test_fencing_info_since(node, since, confirmed):
    node.history_answer = (0, fixture("history-3.0-cmp2.xml"), "")
    result = run("fencing_info", node, node="cmp2", since=since)
    assert result["confirmed_down"] is confirmed
    assert result["last_success"]["client"] == "stonith_admin.90210"  # whether or not it confirms
    assert (result["event"] is not None) is confirmed


def test_fencing_info_reboot_2_1(node):
    node.history_answer = (0, fixture("history-2.1-cmp1.xml"), "")
    result = run("fencing_info", node, node="cmp1", since=T0)
    assert result["confirmed_down"] is True
    assert (result["event"]["action"], result["event"]["completed"]) == ("reboot", T0 + 42)
    assert result["node"]["name"] == "cmp1" and result["node"]["online"] is True  # back up after the reboot
    assert run("fencing_info", node, node="cmp1", since=T0 + 43)["confirmed_down"] is False


def test_fencing_info_never_fenced(node):
    node.history_answer = (0, fixture("history-empty.xml"), "")
    result = run("fencing_info", node, node="cmp3")
    assert result["confirmed_down"] is False
    assert (result["event"], result["last_success"], result["last_failure"], result["pending"], result["history"]) == (
        None, None, None, False, [])
    assert result["node"] is None


def test_fencing_info_only_failed_and_pending(node):
    node.events["cmp2"] = [event(status="pending"), event(status="failed", completed=T0 + 20, exit_reason="timed out")]
    result = run("fencing_info", node, node="cmp2", since=T0)
    assert result["confirmed_down"] is False and result["pending"] is True
    assert result["last_success"] is None and result["last_failure"]["exit_reason"] == "timed out"


def test_fencing_info_unreadable_history(node):
    node.history_answer = (102, fixture("history-error.xml"), "")
    result = run("fencing_info", node, node="cmp2", since=T0)
    assert not result["failed"]
    assert result["confirmed_down"] is False and result["history"] == []
    assert "could not be read" in result["error"] and "Could not connect to fencer" in result["error"]
    assert result["node"]["name"] == "cmp2"


def test_fencing_info_history_without_xml(node):
    node.history_answer = (0, "", "")
    result = run("fencing_info", node, node="cmp2")
    assert result["confirmed_down"] is False and "wrote no XML" in result["error"]


def test_fencing_info_without_crm_mon_state(node):
    node.crm_mon = (102, fixture("crm_mon-disconnected.xml"), "")
    node.events["cmp2"] = [event(completed=T0 + 5)]
    result = run("fencing_info", node, node="cmp2", since=T0)
    assert result["confirmed_down"] is True and result["node"] is None
    assert len(node.warnings) == 1 and "cluster is not available" in node.warnings[0]


@pytest.mark.parametrize("tools, missing", [(("crm_mon",), "stonith_admin"), (("stonith_admin",), "crm_mon")])
def test_fencing_info_missing_tools(tools, missing):
    node = FakeNode(tools=tools)
    result = run("fencing_info", node, node="cmp2")
    assert result["failed"] and result["msg"].startswith("%s was not found" % missing) and node.calls == []


def test_fencing_info_invalid_since(node):
    result = run("fencing_info", node, node="cmp2", since="after lunch")
    assert result["failed"] and "ISO 8601" in result["msg"] and node.calls == []


# === fence ================================================================================================


def fence_argv(node="cmp2", option="--fence", timeout=120, limit=144, extra=()):
    return ["/usr/bin/timeout", "--kill-after=10", str(limit), "/usr/sbin/stonith_admin", "%s=%s" % (option, node),
            "--timeout=%d" % timeout, "--output-as=xml"] + list(extra)


def test_fence_nothing_to_do_when_fenced_since(node):
    node.events["cmp2"] = [event(completed=T0 + 42, delegate="ctl3", client="pacemaker-controld.1873", origin="ctl2")]
    result = run("fence", node, node="cmp2", since="2026-11-23T19:00:00Z")
    assert not result["failed"] and result["changed"] is False and result["fenced"] is True
    assert node.fences() == 0
    assert (result["action"], result["completed"], result["delegate"], result["seconds"]) == ("off", T0 + 42, "ctl3", 0)
    assert result["event"]["client"] == "pacemaker-controld.1873"
    # The same in check mode.
    assert run("fence", node, check_mode=True, node="cmp2", since=T0)["changed"] is False
    assert node.fences() == 0


def test_fence_reboot_since_counts(node):
    node.events["cmp2"] = [event(action="reboot", completed=T0 + 42)]
    result = run("fence", node, node="cmp2", since=T0)
    assert result["changed"] is False and result["fenced"] is True and result["action"] == "reboot"


def test_fence_when_only_fenced_before_since(node):
    node.events["cmp2"] = [event(completed=T0 - 3600)]
    result = run("fence", node, node="cmp2", since=T0)
    assert not result["failed"] and result["changed"] is True and result["fenced"] is True
    assert node.fence_calls == [fence_argv()]
    assert result["completed"] == pytest.approx(T0 + 60 + 8.4)
    assert result["delegate"] == "ctl1" and result["action"] == "off"
    assert result["event"]["client"] == "stonith_admin.4321"
    assert result["seconds"] == pytest.approx(8.4)
    assert result["rc"] == 0 and result["cmd"] == " ".join(fence_argv())
    assert node.sleeps == []


def test_fence_without_since_always_fences(node):
    node.events["cmp2"] = [event(completed=T0 + 30)]  # recent, but nobody said since when it counts
    result = run("fence", node, node="cmp2", action="reboot", timeout=60)
    assert result["changed"] is True and result["fenced"] is True and result["action"] == "reboot"
    assert node.fence_calls == [fence_argv(option="--reboot", timeout=60, limit=72)]
    assert result["completed"] == pytest.approx(T0 + 68.4)
    # Only the history read after fencing, none before.
    assert sum(1 for call in node.calls if "--verbose" in call) == 1


def test_fence_waits_for_the_history(node):
    node.hidden_reads = 2
    result = run("fence", node, node="cmp2", since=T0)
    assert result["fenced"] is True
    assert node.sleeps == [1, 1]
    assert result["seconds"] == pytest.approx(10.4)


def test_fence_without_timeout_command():
    node = FakeNode(tools=("crm_mon", "stonith_admin"))
    result = run("fence", node, node="cmp2", tolerance=30)
    assert result["fenced"] is True
    assert node.fence_calls == [["/usr/sbin/stonith_admin", "--fence=cmp2", "--timeout=120", "--output-as=xml",
                                 "--tolerance=30s"]]


def test_fence_tolerance_accepts_an_earlier_success(node):
    # The fencer answers from its tolerance window: success, but no new event.
    node.fence_event = None
    node.events["cmp2"] = [event(completed=T0 + 40)]  # 20 s before the request
    result = run("fence", node, node="cmp2", since=T0 + 50, tolerance=60)
    assert result["fenced"] is True and result["completed"] == T0 + 40
    assert node.fence_calls == [fence_argv(extra=["--tolerance=60s"])]


def test_fence_success_reported_but_not_in_history(node):
    node.fence_event = None
    node.events["cmp2"] = [event(completed=T0 + 40)]  # before the request, no tolerance: does not count
    result = run("fence", node, node="cmp2", since=T0 + 50)
    assert result["failed"] and result["fenced"] is False and result["changed"] is True
    assert "stonith_admin reported success, but within 144 seconds" in result["msg"]
    assert "cmp2 is NOT confirmed down: nothing must be evacuated from it" in result["msg"]
    assert result["event"]["completed"] == T0 + 40
    # It kept reading until the time limit.
    assert node.clock >= T0 + 60 + 144 and len(node.sleeps) >= 3


def test_fence_fails(node):
    node.fence_answer = (124, fixture("fence-timeout.xml"), "")
    node.fence_event = dict(status="failed", exit_reason="Timer expired")
    result = run("fence", node, node="cmp2", since=T0)
    assert result["failed"] and result["fenced"] is False and result["changed"] is True
    msg = result["msg"]
    assert msg.startswith("Fencing cmp2 (off) is NOT confirmed: stonith_admin failed (rc 124): Timeout occurred; "
                          "stonith_admin: Couldn't fence cmp2: Timer expired.")
    assert "cmp2 is NOT confirmed down: nothing must be evacuated from it" in msg
    assert "Newest fencing history entry: failed off of cmp2 by ctl1 completed 2026-11-23 19:01:08.400000Z." in msg
    assert result["rc"] == 124 and "Timer expired" in result["stdout"]
    assert result["event"]["status"] == "failed" and result["event"]["exit_reason"] == "Timer expired"
    assert node.sleeps == []  # a failed stonith_admin is not waited for


def test_fence_no_device(node):
    node.fence_answer = (105, fixture("fence-no-device.xml"), "")
    node.fence_event = None
    result = run("fence", node, node="cmp9")
    assert result["failed"] and "No such device" in result["msg"] and result["event"] is None
    assert "cmp9 is NOT confirmed down" in result["msg"]


def test_fence_stopped_at_the_time_limit(node):
    node.fence_answer = (124, "", "")
    node.fence_event = dict(status="pending")
    result = run("fence", node, node="cmp2", since=T0, timeout=30)
    assert result["failed"]
    assert "no answer within 40 seconds, stonith_admin was stopped" in result["msg"]
    assert "Newest fencing history entry: pending off of cmp2." in result["msg"]
    assert node.fence_calls == [fence_argv(timeout=30, limit=40)]


def test_fence_failed_but_history_confirms(node):
    # stonith_admin gave up, but the fencing (merged with the cluster's own) succeeded.
    node.fence_answer = (124, fixture("fence-timeout.xml"), "")
    result = run("fence", node, node="cmp2", since=T0)
    assert not result["failed"] and result["fenced"] is True
    assert len(node.warnings) == 1 and "records a successful off of cmp2" in node.warnings[0]


def test_fence_history_unreadable_after_fencing(node):
    node.events["cmp2"] = []
    original = node._fence

    def fence_then_break(target, action, argv):
        answer = original(target, action, argv)
        node.history_answer = (102, fixture("history-error.xml"), "")
        return answer

    node._fence = fence_then_break
    result = run("fence", node, node="cmp2", since=T0)
    assert result["failed"] and "cannot be read to confirm it" in result["msg"]
    assert "NOT confirmed down" in result["msg"] and result["event"] is None


def test_fence_history_unreadable_before_fencing(node):
    calls = []
    original = node._history

    def broken_first(target):
        calls.append(target)
        if len(calls) == 1:
            return 102, fixture("history-error.xml"), ""
        return original(target)

    node._history = broken_first
    result = run("fence", node, node="cmp2", since=T0)
    assert result["fenced"] is True and node.fences() == 1
    assert len(node.warnings) == 1 and "fencing anyway" in node.warnings[0]


@pytest.mark.parametrize("args, changed", [
    (dict(since=T0), True),  # fenced before since only
    (dict(), True),  # without since it always fences
])
def test_fence_check_mode(node, args, changed):
    node.events["cmp2"] = [event(completed=T0 - 60)]
    result = run("fence", node, check_mode=True, node="cmp2", **args)
    assert not result["failed"] and result["changed"] is changed
    assert result["fenced"] is False and result["completed"] is None and result["event"] is None
    assert node.fences() == 0


def test_fence_check_mode_unreadable_history(node):
    node.history_answer = (102, fixture("history-error.xml"), "")
    result = run("fence", node, check_mode=True, node="cmp2", since=T0)
    assert result["changed"] is True and node.fences() == 0 and len(node.warnings) == 1


def test_fence_warns_about_since_in_the_future(node):
    run("fence", node, node="cmp2", since=T0 + 3600)
    assert any("in the future" in warning for warning in node.warnings)


def test_fence_since_in_2_1_seconds(node):
    # Pacemaker 2.1 truncates to the second: a fencing recorded in the second of since counts only from that second.
    node.events["cmp2"] = [event(completed=T0 + 42.9, version="2.1")]
    assert run("fence", node, node="cmp2", since=T0 + 42)["changed"] is False
    assert run("fence", node, node="cmp2", since=T0 + 42.5)["changed"] is True


@pytest.mark.parametrize("args, message", [
    (dict(node="cmp2", since="soon"), "ISO 8601"),
    (dict(node="cmp2", timeout=0), "timeout must be a positive"),
    (dict(node="cmp2", tolerance=-1), "tolerance must not be negative"),
    (dict(node=" "), "node must not be empty"),
    (dict(node="cmp2", action="on"), "value of action must be one of"),
])
def test_fence_invalid_options(node, args, message):
    result = run("fence", node, **args)
    assert result["failed"] and message in result["msg"] and node.calls == []


def test_fence_without_stonith_admin():
    node = FakeNode(tools=("crm_mon", "timeout"))
    result = run("fence", node, node="cmp2")
    assert result["failed"] and result["msg"].startswith("stonith_admin was not found") and node.calls == []


def test_modules_document_their_options():
    for name, options in (("cluster_info", set()), ("fencing_info", {"node", "since"}),
                          ("fence", {"node", "action", "since", "timeout", "tolerance"})):
        doc = yaml.safe_load(load(name).DOCUMENTATION)
        assert set(doc["options"] or {}) == options
        assert any("Pacemaker CLI tools on the target" in item for item in doc["requirements"])
