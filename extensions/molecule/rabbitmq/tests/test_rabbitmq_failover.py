"""Crash of a broker: a persistent message in a quorum queue survives the crash of the node it was published to.

Runs after test_rabbitmq.py (file order). The AMQP client runs inside rabbit3, which stays up; rabbit1 is killed
(podman kill: a host crash) after the publish, the message is consumed through rabbit2, then rabbit1 is started
again and must rejoin: the test ends with three running nodes, as the cluster started.
"""

import json
import os
import subprocess
import time
import uuid

testinfra_hosts = ["ansible://rabbit3"]

VICTIM = "rabbit1"
CONSUMER_NODE = "rabbit2"
VHOST = "openstack"

# Declares a durable queue WITHOUT x-queue-type (the vhost's default queue type decides: quorum) and publishes
# one persistent message with publisher confirms.
PUBLISH = """
import json, sys, pika
address, password, queue, body = sys.argv[1:5]
params = pika.ConnectionParameters(address, 5672, "openstack", pika.PlainCredentials("openstack", password),
                                   connection_attempts=3, retry_delay=2, socket_timeout=10)
connection = pika.BlockingConnection(params)
channel = connection.channel()
channel.confirm_delivery()
channel.queue_declare(queue=queue, durable=True)
channel.basic_publish("", queue, body.encode(), pika.BasicProperties(delivery_mode=2), mandatory=True)
connection.close()
print(json.dumps({"published": True}))
"""

# Gets one message, retrying while the queue elects a new leader; prints what it got and how long it took.
CONSUME = """
import json, sys, time, pika
address, password, queue, deadline = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
start, errors = time.monotonic(), []
while time.monotonic() - start < deadline:
    try:
        params = pika.ConnectionParameters(address, 5672, "openstack", pika.PlainCredentials("openstack", password),
                                           connection_attempts=1, socket_timeout=5)
        connection = pika.BlockingConnection(params)
        channel = connection.channel()
        method, properties, body = channel.basic_get(queue, auto_ack=False)
        if method is not None:
            channel.basic_ack(method.delivery_tag)
            channel.queue_delete(queue)
            connection.close()
            print(json.dumps({"body": body.decode(), "persistent": properties.delivery_mode == 2, "at": time.time(),
                              "seconds": round(time.monotonic() - start, 1), "errors": errors[-3:]}))
            sys.exit(0)
        connection.close()
    except Exception as exc:
        errors.append(type(exc).__name__ + ": " + str(exc))
    time.sleep(1)
print(json.dumps({"body": None, "seconds": round(time.monotonic() - start, 1), "errors": errors[-3:]}))
"""


def _peer(host, name):
    return host.get_host(f"ansible://{name}", ansible_inventory=os.environ["MOLECULE_INVENTORY_FILE"])


def _address(host, name):
    return _peer(host, name).ansible.get_variables()["hastack_mgmt_address"]


# Polls cluster_status inside a host until the running nodes are exactly argv[1:]; prints the wall-clock time of the
# first match (containers share the lab machine's clock), or null after argv[0] seconds.
AWAIT_NODES = """
import json, subprocess, sys, time
deadline, wanted = time.monotonic() + float(sys.argv[1]), sorted(sys.argv[2:])
while time.monotonic() < deadline:
    out = subprocess.run(["rabbitmqctl", "cluster_status", "--formatter", "json"], capture_output=True, text=True)
    if out.returncode == 0 and sorted(json.loads(out.stdout)["running_nodes"]) == wanted:
        print(json.dumps({"at": time.time()}))
        sys.exit(0)
    time.sleep(1)
print(json.dumps({"at": None}))
"""


def _await_nodes(host, nodes, timeout):
    """Wall-clock time at which `host` saw exactly `nodes` running, or None."""
    result = host.run("python3 -c %s %s " + " ".join(["%s"] * len(nodes)), AWAIT_NODES, str(timeout), *nodes)
    assert result.rc == 0, result
    return json.loads(result.stdout)["at"]


def _running_nodes(host):
    result = host.run("rabbitmqctl cluster_status --formatter json")
    return sorted(json.loads(result.stdout)["running_nodes"]) if result.rc == 0 else []


def _queue_types(host, queue):
    rows = json.loads(host.check_output("rabbitmqctl list_queues -p %s name type leader --formatter json", VHOST))
    return {row["name"]: row for row in rows}.get(queue)


def _wait_booted(name, deadline):
    """systemctl is-system-running --wait, retried while systemd inside the restarted container is not up yet."""
    while True:
        booted = subprocess.run(  # pylint: disable=subprocess-run-check
            ["podman", "exec", name, "systemctl", "is-system-running", "--wait"], capture_output=True, text=True
        )
        if booted.stdout.strip() in ("running", "degraded"):
            return
        assert time.monotonic() < deadline, f"{name} did not boot: {booted}"
        time.sleep(1)


def test_message_survives_crash_of_the_publishing_node_and_node_rejoins(host):
    password = host.ansible.get_variables()["rabbitmq_openstack_password"]
    members = sorted(f"rabbit@{name}" for name in host.ansible.get_variables()["groups"]["controllers"])
    assert _running_nodes(host) == members, "the cluster must be complete before the crash"

    queue, body = f"hastack-failover-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    published = host.run("python3 -c %s %s %s %s %s", PUBLISH, _address(host, VICTIM), password, queue, body)
    assert published.rc == 0, published
    declared = _queue_types(host, queue)
    assert declared["type"] == "quorum", declared
    print(f"queue {queue}: type {declared['type']}, leader {declared['leader']}")

    survivors = sorted(set(members) - {f"rabbit@{VICTIM}"})
    try:
        crashed = time.time()
        subprocess.run(["podman", "kill", VICTIM], check=True, capture_output=True)

        consumed = host.run("python3 -c %s %s %s %s 90", CONSUME, _address(host, CONSUMER_NODE), password, queue)
        assert consumed.rc == 0, consumed
        result = json.loads(consumed.stdout)
        assert result["body"] == body, result
        assert result["persistent"], result
        print(
            f"message published through {VICTIM} consumed through {CONSUMER_NODE} "
            f"{result['at'] - crashed:.1f} s after the crash of {VICTIM} (client errors: {result['errors']})"
        )
        # The majority keeps running (pause_minority pauses only a minority) and notices the crash.
        down_at = _await_nodes(host, survivors, 120)
        assert down_at, f"{survivors} did not report {VICTIM} down within 120 s"
        print(f"{', '.join(survivors)} running, {VICTIM} reported down {down_at - crashed:.1f} s after the crash")
    finally:
        started = time.time()
        subprocess.run(["podman", "start", VICTIM], check=True, capture_output=True)

    rejoined_at = _await_nodes(host, members, 300)
    assert rejoined_at, f"{VICTIM} did not rejoin within 300 s of podman start"
    print(f"{VICTIM} rejoined the cluster {rejoined_at - started:.1f} s after podman start (3 running nodes)")
    _wait_booted(VICTIM, time.monotonic() + 120)
    # The rejoined node's own view: its CLI may need a moment after boot to reach the local node.
    assert _await_nodes(_peer(host, VICTIM), members, 60), f"{VICTIM} does not list all three running nodes itself"
