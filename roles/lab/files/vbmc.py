"""Virtual BMCs for lab hosts: IPMI over LAN (lanplus) in front of podman containers.

Test fixture, not production code. Each lab compute gets a BMC that fence_ipmilan and ipmitool reach over
the lab network exactly as they would reach a server's BMC:

  power status  -> "on" while the container runs, "off" otherwise
  power off     -> podman kill (a hard power cut: nothing inside gets to shut down)
  power on      -> podman start (the host boots again)
  power reset / cycle -> kill, then start
  power soft    -> podman stop (ACPI-like shutdown)

One process serves every BMC of a lab (one UDP port each). The configuration is a JSON file (mode 0600,
it holds the BMC passwords):

  {"bmcs": [{"name": "cmp1", "container": "cmp1", "address": "10.201.10.1", "port": 6231,
             "user": "admin", "password": "..."}]}

  vbmc.py start --config FILE --pidfile FILE --logfile FILE   daemonize; "unchanged" if already serving FILE
  vbmc.py stop --pidfile FILE                                 stop the daemon (no-op if not running)
  vbmc.py serve --config FILE                                 run in the foreground
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import signal
import subprocess
import sys
import time

PODMAN = os.environ.get("VBMC_PODMAN", "podman")
LOG = logging.getLogger("vbmc")


def container_running(container: str) -> bool:
    result = subprocess.run(
        [PODMAN, "inspect", "--format", "{{.State.Running}}", container],
        capture_output=True,
        text=True,
        check=False,
    )
    return result.returncode == 0 and result.stdout.strip() == "true"


def podman(*args: str) -> int:
    result = subprocess.run([PODMAN, *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        LOG.error("podman %s failed: %s", " ".join(args), result.stderr.strip())
    return result.returncode


def make_bmc_class():
    from pyghmi.ipmi import bmc  # imported late: `stop` must work without pyghmi

    class ContainerBmc(bmc.Bmc):
        """A BMC whose chassis is a podman container."""

        def __init__(self, spec: dict):
            super().__init__({spec["user"]: spec["password"]}, port=int(spec["port"]), address=spec["address"])
            self.name = spec["name"]
            self.container = spec["container"]

        def _result(self, action: str, rc: int) -> int:
            LOG.info("%s: %s -> %s", self.name, action, "ok" if rc == 0 else f"failed ({rc})")
            return 0 if rc == 0 else 0xFF  # 0xff: unspecified error, fence agents report it

        def get_power_state(self):
            return "on" if container_running(self.container) else "off"

        def power_off(self):
            if not container_running(self.container):
                return self._result("power off (already off)", 0)
            return self._result("power off", podman("kill", self.container))

        def power_on(self):
            if container_running(self.container):
                return self._result("power on (already on)", 0)
            return self._result("power on", podman("start", self.container))

        def power_reset(self):
            if container_running(self.container):
                podman("kill", self.container)
            return self._result("power reset", podman("start", self.container))

        power_cycle = power_reset

        def power_shutdown(self):
            return self._result("soft off", podman("stop", "--time", "30", self.container))

        def get_system_guid(self):
            return self.uuid

        def cold_reset(self):
            return 0

    return ContainerBmc


def load_config(path: str) -> dict:
    with open(path, encoding="utf-8") as handle:
        config = json.load(handle)
    for spec in config.get("bmcs", []):
        missing = {"name", "container", "address", "port", "user", "password"} - set(spec)
        if missing:
            raise SystemExit(f"vbmc: BMC {spec.get('name', '?')} lacks {', '.join(sorted(missing))}")
    return config


def serve(config_path: str, ready_fd: int | None = None) -> None:
    config = load_config(config_path)
    bmc_class = make_bmc_class()
    bmcs = [bmc_class(spec) for spec in config["bmcs"]]
    for item in bmcs:
        LOG.info("%s: listening on %s:%s for container %s", item.name, item.serversocket.getsockname()[0],
                 item.port, item.container)
    if ready_fd is not None:
        os.write(ready_fd, b"ready")
        os.close(ready_fd)
    signal.signal(signal.SIGTERM, lambda *args: sys.exit(0))
    if bmcs:
        bmcs[0].listen()  # pyghmi's session loop serves every BMC socket registered in this process
    else:
        while True:
            time.sleep(3600)


def read_pid(pidfile: str) -> int | None:
    try:
        with open(pidfile, encoding="utf-8") as handle:
            pid = int(handle.read().split()[0])
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError, IndexError):
        return None


def config_digest(path: str) -> str:
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def stop(pidfile: str) -> bool:
    pid = read_pid(pidfile)
    if pid is None:
        if os.path.exists(pidfile):
            os.unlink(pidfile)
        return False
    os.kill(pid, signal.SIGTERM)
    for _attempt in range(50):
        if read_pid(pidfile) is None:
            break
        time.sleep(0.1)
    else:
        os.kill(pid, signal.SIGKILL)
    if os.path.exists(pidfile):
        os.unlink(pidfile)
    return True


def start(config_path: str, pidfile: str, logfile: str) -> str:
    digest = config_digest(config_path)
    stamp = pidfile + ".config"
    if read_pid(pidfile) is not None:
        if os.path.exists(stamp) and open(stamp, encoding="utf-8").read() == digest:
            return "unchanged"
        stop(pidfile)
    load_config(config_path)  # fail in the foreground on a bad file
    read_end, write_end = os.pipe()
    if os.fork() > 0:
        os.close(write_end)
        with os.fdopen(read_end, "rb") as ready:
            if ready.read() != b"ready":
                raise SystemExit(f"vbmc: the daemon did not start, see {logfile}")
        with open(stamp, "w", encoding="utf-8") as handle:
            handle.write(digest)
        return "started"
    os.close(read_end)
    os.setsid()
    if os.fork() > 0:
        os._exit(0)
    with open(pidfile, "w", encoding="utf-8") as handle:
        handle.write(f"{os.getpid()}\n")
    devnull = os.open(os.devnull, os.O_RDWR)
    log_fd = os.open(logfile, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(devnull, 0)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(message)s", force=True)
    try:
        serve(config_path, ready_fd=write_end)
    except Exception:  # noqa: BLE001 - the daemon logs whatever stopped it
        LOG.exception("vbmc stopped")
        os._exit(1)
    os._exit(0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p_start = sub.add_parser("start")
    p_start.add_argument("--config", required=True)
    p_start.add_argument("--pidfile", required=True)
    p_start.add_argument("--logfile", required=True)
    p_stop = sub.add_parser("stop")
    p_stop.add_argument("--pidfile", required=True)
    p_serve = sub.add_parser("serve")
    p_serve.add_argument("--config", required=True)
    args = parser.parse_args(argv)

    if args.command == "start":
        print(start(args.config, args.pidfile, args.logfile))
    elif args.command == "stop":
        print("stopped" if stop(args.pidfile) else "not running")
    else:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
        serve(args.config)
    return 0


if __name__ == "__main__":
    sys.exit(main())
