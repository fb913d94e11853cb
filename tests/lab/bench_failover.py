"""Benchmark: seconds from a compute's power loss to all its HA_Enabled instances ACTIVE on the other compute,
for Masakari's engine with upstream's timings and for hastack.openstack.recover, in one run on the same lab.

    make bench-failover [BENCH_INSTANCES=4]      (needs a running `make lab`)

Each run: N instances booted on the first compute, the compute's container killed (power loss), the clock stops
when every instance is ACTIVE on the second compute with no task left; the host is then powered on and restored.
Engine run: the lab segment enabled, masakari_wait_period_after_service_update=180 (upstream's default).
Playbook run: the segment disabled (the engine ignores the notification), the playbook launched with the
notification the host monitor sent, as the rulebook launches it. Prints both and their ratio.
"""

import argparse
import tempfile
import time
from pathlib import Path

import openstack
from labcloud import (CLOUD, active, boot, computes, delete, event_of, masakari_playbook, podman, rebuilt_on, recover,
                      restore, segment_host, stopped)

UPSTREAM_WAIT = 180


def host_failure(conn, count, name, recover_with=None):
    source, target = computes()
    servers = active(conn, [boot(conn, f"hastack-bench-{name}-{i}", source) for i in range(count)])
    fault = time.time()
    podman("kill", source)
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
        conn.instance_ha.update_segment(segment.uuid, is_enabled=True)
        results["Masakari engine, upstream timings"] = host_failure(conn, args.instances, "engine")
        conn.instance_ha.update_segment(segment.uuid, is_enabled=False)
        results["hastack.openstack.recover"] = host_failure(conn, args.instances, "playbook", by_playbook)
    finally:
        conn.instance_ha.update_segment(segment.uuid, is_enabled=True)
        masakari_playbook()
        for server in conn.compute.servers(all_projects=True, name="^hastack-bench-"):
            delete(conn, [server])
    print(f"\nhost failure of {computes()[0]} with {args.instances} HA_Enabled instances, power loss -> all ACTIVE on "
          f"{computes()[1]}:")
    for name, seconds in results.items():
        print(f"  {name:<36} {seconds:7.1f} s")
    ratio = results["hastack.openstack.recover"] / results["Masakari engine, upstream timings"]
    print(f"  ratio playbook / engine              {ratio:7.2f}")


if __name__ == "__main__":
    main()
