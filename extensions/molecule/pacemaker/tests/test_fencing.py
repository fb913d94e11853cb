"""Real failures, in order: a compute fault is fenced through its (virtual) BMC and the compute rejoins on its own
after power-on; with its BMC unreachable a faulty compute is NOT reported fenced, and once the BMC is back the
cluster fences it and recovers. Every test leaves the cluster healthy for the next one (and for a re-run).

Runs from the lab machine: the faults are injected with podman, the cluster is watched from the first controller.
"""

import time
import xml.etree.ElementTree as ET

import pytest
from conftest import all_healthy, container_running, direct, node_state, podman, variables, wait_for

testinfra_hosts = ["ansible://pcm-ctl1"]

DEAD_BMC_PORT = 6299  # nothing listens there
FENCE_TIMEOUT = 180
REJOIN_TIMEOUT = 150


def fence_events(host, target):
    """Fencing history of `target`: (status, action, completed) per event; --verbose lists failed and pending
    attempts too (without it, stonith_admin shows only the latest outcome)."""
    result = direct(host).run("stonith_admin --history %s --verbose --output-as=xml", target)
    if result.rc != 0:
        return []
    events = ET.fromstring(result.stdout).iter("fence_event")
    return [(e.get("status"), e.get("action"), e.get("completed", "")) for e in events]


def kill_remoted(compute):
    """The fault: pacemaker-remoted dies on the compute (the cluster loses its connection; the host itself runs on)."""
    podman("exec", compute, "systemctl", "kill", "--signal=KILL", "pacemaker_remote")


def start_compute(compute):
    podman("start", compute)


@pytest.fixture(scope="module", autouse=True)
def healthy_before_and_after(host):
    wait_for("a healthy cluster before the failure tests", lambda: all_healthy(host), 180, 3)
    yield
    wait_for("a healthy cluster after the failure tests", lambda: all_healthy(host), 180, 3)


def test_faulty_compute_is_fenced_off_through_its_bmc(host):
    compute = "pcm-cmp1"
    assert container_running(compute)
    before = fence_events(host, compute)
    start = time.monotonic()
    kill_remoted(compute)

    events = wait_for(
        f"a successful fencing of {compute}",
        lambda: [e for e in fence_events(host, compute) if e[0] == "success" and e not in before],
        FENCE_TIMEOUT,
    )
    fenced = time.monotonic() - start
    print(f"\n[pacemaker] {compute}: fault -> fencing confirmed in {fenced:.1f} s ({events[0]})")
    assert not container_running(compute), "the BMC reported success but the compute still runs"
    state = node_state(host, compute)
    assert not state["up"], state
    print(f"[pacemaker] stonith_admin --history {compute}:\n"
          + direct(host).check_output("stonith_admin --history %s", compute))


def test_fenced_compute_rejoins_after_power_on(host):
    compute = "pcm-cmp1"
    start = time.monotonic()
    start_compute(compute)
    wait_for(f"{compute} online again", lambda: node_state(host, compute)["up"], REJOIN_TIMEOUT)
    print(f"\n[pacemaker] {compute}: power on -> online remote node in {time.monotonic() - start:.1f} s")
    wait_for("a healthy cluster", lambda: all_healthy(host), 60)


def set_bmc_port(host, device, port):
    direct(host).check_output(
        "crm_resource --resource %s --set-parameter ipport --parameter-value %s", device, str(port)
    )


def test_unreachable_bmc_means_not_fenced_then_recovery(host):
    """pcm-cmp2's fence device points at a port where no BMC answers (as if its BMC were down): a fault on pcm-cmp2
    must NOT end as "fenced". Once the device reaches the BMC again, the cluster fences it and recovers."""
    compute = "pcm-cmp2"
    device = f"fence-{compute}"
    port = variables(compute)["hastack_bmc_port"]
    before = fence_events(host, compute)
    set_bmc_port(host, device, DEAD_BMC_PORT)
    try:
        start = time.monotonic()
        kill_remoted(compute)
        failed = wait_for(
            f"a failed fencing attempt on {compute}",
            lambda: [e for e in fence_events(host, compute) if e[0] == "failed"],
            FENCE_TIMEOUT,
        )
        print(f"\n[pacemaker] {compute}: BMC unreachable -> fencing failed after {time.monotonic() - start:.1f} s"
              f" ({failed[0]})")
        assert not [e for e in fence_events(host, compute) if e[0] == "success" and e not in before]
        state = node_state(host, compute)
        assert state.get("unclean") == "true" and not state["up"], state
        print(f"[pacemaker] {compute} while unfenced: online={state.get('online')} unclean={state.get('unclean')}")
        assert container_running(compute)
    finally:
        set_bmc_port(host, device, port)

    restored = time.monotonic()
    wait_for(
        f"{compute} fenced once its BMC answers again",
        lambda: [e for e in fence_events(host, compute) if e[0] == "success" and e not in before],
        FENCE_TIMEOUT,
    )
    print(f"[pacemaker] {compute}: BMC back -> fenced in {time.monotonic() - restored:.1f} s")
    assert not container_running(compute)
    start = time.monotonic()
    start_compute(compute)
    wait_for(f"{compute} online again", lambda: node_state(host, compute)["up"], REJOIN_TIMEOUT)
    print(f"[pacemaker] {compute}: power on -> online remote node in {time.monotonic() - start:.1f} s")
    # The failed attempt stays in the fencing history until cleared, as an operator would after the incident.
    direct(host).check_output("stonith_admin --cleanup --history %s", compute)
    wait_for("a healthy cluster", lambda: all_healthy(host), 60)
    assert direct(host).run("crm_verify --live-check").rc == 0
