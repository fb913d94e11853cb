"""Benchmark: seconds from a compute's power loss to all its HA_Enabled instances ACTIVE on the other compute,
for Masakari's engine with upstream's timings and for hastack.openstack.recover, in one run on the same lab.

    make bench-failover [BENCH_INSTANCES=4]      (needs a running `make lab`)

Each run: N instances booted on the first compute, the compute's container killed (power loss), the clock stops
when every instance is ACTIVE on the second compute with no task left; the host is then powered on and restored.
Engine run: the lab segment enabled, masakari_wait_period_after_service_update=180 (upstream's default).
Playbook run: the segment disabled (the engine ignores the notification); the rulebook launches the playbook when
it runs on a controller (playbooks/recover_rulebook.yml), else this script launches it with the notification the
host monitor sent. Prints both and their ratio.
"""

import argparse
import tempfile
import time
from pathlib import Path

import openstack
from labcloud import (CLOUD, active, boot, computes, delete, event_of, masakari_playbook, power_loss,
                      rebuilt_on, recover, restore, rulebook_node, segment_host, stopped, update_segment)

UPSTREAM_WAIT = 180


def host_failure(conn, count, name, recover_with=None):
    source, target = computes()
    servers = active(conn, [boot(conn, f"hastack-bench-{name}-{i}", source) for i in range(count)])
    fault = power_loss(conn, source)
    try:
        if recover_with:
            recover_with(conn, source, fault)
        rebuilt_on(conn, servers, target, timeout=900)
        return time.time() - fault
    finally:
        restore(conn, source, servers)


def by_playbook(conn, source, fault):
    event = event_of(conn, source, "COMPUTE_HOST", fault, stopped)
    with tempfile.TemporaryDirectory() as timelines:
        recover(event, Path(timelines))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=4)
    args = parser.parse_args()
    conn = openstack.connect(cloud=CLOUD)
    segment = segment_host(conn, computes()[0])[0]
    results = {}
    try:
        masakari_playbook("-e", f"masakari_wait_period_after_service_update={UPSTREAM_WAIT}")
        update_segment(conn, segment.uuid, is_enabled=True)
        results["Masakari engine, upstream timings"] = host_failure(conn, args.instances, "engine")
        update_segment(conn, segment.uuid, is_enabled=False)
        # With the rulebook running on a controller (playbooks/recover_rulebook.yml) it launches the playbook;
        # without it, this script launches it with the host monitor's notification, as the rulebook would.
        mode = "rulebook on " + rulebook_node() if rulebook_node() else "launched by this script"
        results[f"hastack.openstack.recover ({mode})"] = host_failure(
            conn, args.instances, "playbook", None if rulebook_node() else by_playbook)
    finally:
        update_segment(conn, segment.uuid, is_enabled=True)
        masakari_playbook()
        for server in conn.compute.servers(all_projects=True, name="^hastack-bench-"):
            delete(conn, [server])
    print(f"\nhost failure of {computes()[0]} with {args.instances} HA_Enabled instances, power loss -> all ACTIVE on "
          f"{computes()[1]}:")
    for name, seconds in results.items():
        print(f"  {name:<60} {seconds:7.1f} s")
    measured = list(results.values())
    ratio = measured[1] / measured[0]  # playbook / engine
    print(f"  {'ratio playbook / engine':<60} {ratio:7.2f}")


if __name__ == "__main__":
    main()
