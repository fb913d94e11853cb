"""Liveness check of the Masakari monitors on this compute, beyond "the unit is active".

Installed by the hastack.openstack.masakari_monitors role; run by masakari-monitors-check.timer every
masakari_monitors_liveness_interval seconds (with --restart) and once at the end of the role (without):

    python3 masakari_monitors_check.py [--config FILE] [--grace SECONDS] [--restart] [--no-api] MONITOR...

MONITOR: host, instance, process, introspective. Checked for each one:

- all: its unit is active and running; its main process is the monitor and alive (not a zombie, not stopped).
- instance, introspective: the process holds a unix socket connected to a libvirt socket (under /run/libvirt),
  from the kernel's socket table (sock_diag, what `ss -x` reads). Upstream reconnects after a libvirtd restart,
  but a failed reconnection ends the monitor's loop and leaves its process running without events.
- host: `crm_mon -X` (what the monitor runs, as root through privsep) answers on this pacemaker_remote node, the
  cluster has quorum and crm_mon lists this host among the remote nodes; the monitor's log file was written
  within 3 x [host] monitoring_interval + 30 s (the monitor logs "Works on pacemaker-remote." at every poll), so
  a loop stuck in a command that never returns is noticed.
- process: the monitor's loop still runs `ps -ef` every [process] check_interval seconds: the minor page faults
  of its reaped child processes (cminflt, /proc/PID/stat) grow within 2 x check_interval + 5 s.
- once, unless --no-api: a Keystone token for the [api] credentials and an answer of the Masakari API (catalog
  type instance-ha, [api] api_interface and region) to a segment list, through keystoneauth1 and openstacksdk
  the way the monitors send their notifications.

A failure of the monitor itself (unit stopped or failed, process gone, no libvirt connection while libvirt
answers, loop stalled while its command works) is cured by a restart, which --restart does. A failure around it
(libvirt, Pacemaker, Keystone, the API) is only reported: a restart would not help, and a restarted host monitor
forgets which computes it has seen offline already, so it would never report a compute that failed meanwhile.
Within --grace seconds of a monitor's (re)start only its unit and process are judged.

Prints one line per monitor; exits 0 when every monitor is live, 1 when not, 2 when it cannot run at all.
Never prints the password.
"""

import argparse
import configparser
import os
import socket
import struct
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from urllib.parse import urlsplit

# monitor -> (systemd unit, executable the unit runs)
MONITORS = {
    "host": ("masakari-host-monitor", "masakari-hostmonitor"),
    "instance": ("masakari-instance-monitor", "masakari-instancemonitor"),
    "process": ("masakari-process-monitor", "masakari-processmonitor"),
    "introspective": ("masakari-introspective-instance-monitor", "masakari-introspectiveinstancemonitor"),
}
LIBVIRT_MONITORS = ("instance", "introspective")
LIBVIRT_SOCKET_DIRS = ("/run/libvirt/", "/var/run/libvirt/")
# Seconds a (re)connecting monitor gets to reach libvirt again (upstream waits 3 s between attempts).
LIBVIRT_RECONNECT_WAIT = 10
COMMAND_TIMEOUT = 30
API_TIMEOUT = 20

# sock_diag (linux/netlink.h, linux/sock_diag.h, linux/unix_diag.h)
NETLINK_SOCK_DIAG = 4
SOCK_DIAG_BY_FAMILY = 20
NLM_F_REQUEST = 0x1
NLM_F_DUMP = 0x300
NLMSG_ERROR = 2
NLMSG_DONE = 3
NLMSG_HDR = struct.Struct("=IHHII")
UNIX_DIAG_REQ = struct.Struct("=BBHIIIII")
UNIX_DIAG_MSG = struct.Struct("=BBBBIII")
UDIAG_SHOW_NAME = 0x1
UDIAG_SHOW_PEER = 0x4
UNIX_DIAG_NAME = 0
UNIX_DIAG_PEER = 2


class Problem(Exception):
    """Something is wrong; restart says whether restarting the monitor's unit cures it."""

    def __init__(self, message, restart=False):
        super().__init__(message)
        self.restart = restart


def say(priority, text):
    """One line of output; under systemd (journal) with its syslog priority, so errors are errors there."""
    prefix = "<%d>" % priority if os.environ.get("JOURNAL_STREAM") else ""
    print(prefix + text, flush=True)


def read_config(path):
    parser = configparser.RawConfigParser(strict=False, default_section="__none__")
    parser.optionxform = str
    with open(path, encoding="utf-8") as handle:
        parser.read_file(handle)
    return parser


def option(config, section, name, default=None):
    if config.has_section(section) and config.has_option(section, name):
        value = config.get(section, name).strip()
        return value if value != "" else default
    return default


def int_option(config, section, name, default):
    try:
        return int(option(config, section, name, default))
    except ValueError:
        return default


def run(argv, timeout=COMMAND_TIMEOUT):
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)


def unit_properties(unit):
    result = run(["systemctl", "show", "--property=ActiveState,SubState,MainPID,ExecMainStartTimestampMonotonic", unit])
    return dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)


def proc_stat(pid):
    """Fields of /proc/PID/stat from field 3 (state) on: [0] state, [8] cminflt."""
    with open("/proc/%d/stat" % pid, encoding="ascii", errors="replace") as handle:
        stat = handle.read()
    return stat[stat.rindex(")") + 2:].split()


def check_process(unit, binary):
    """The unit runs and its main process is the monitor; returns (pid, seconds since it started)."""
    props = unit_properties(unit)
    active, sub = props.get("ActiveState", "unknown"), props.get("SubState", "unknown")
    if active in ("activating", "deactivating", "reloading"):
        raise Problem("%s is %s (%s): systemd is (re)starting it" % (unit, active, sub))
    if active != "active" or sub != "running":
        raise Problem("%s is %s (%s)" % (unit, active, sub), restart=True)
    pid = int(props.get("MainPID") or 0)
    if pid <= 0:
        raise Problem("%s has no main process" % unit, restart=True)
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as handle:
            argv = [arg.decode(errors="replace") for arg in handle.read().split(b"\0")]
        state = proc_stat(pid)[0]
    except OSError:
        raise Problem("%s: its main process %d is gone" % (unit, pid), restart=True) from None
    if not any(os.path.basename(arg) == binary for arg in argv[:2]):
        raise Problem("%s: main process %d is %r, not %s" % (unit, pid, " ".join(argv).strip(), binary), restart=True)
    if state in ("Z", "X", "T", "t"):
        raise Problem("%s: main process %d is in state %s (zombie, dead or stopped)" % (unit, pid, state), restart=True)
    started = int(props.get("ExecMainStartTimestampMonotonic") or 0) / 1e6
    return pid, (time.monotonic() - started) if started else 0.0


def socket_inodes(pid):
    inodes = set()
    fd_dir = "/proc/%d/fd" % pid
    for fd in os.listdir(fd_dir):
        try:
            target = os.readlink(os.path.join(fd_dir, fd))
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    return inodes


def unix_sockets():
    """inode -> (bound path, peer inode) of every unix socket in this network namespace, from sock_diag."""
    request = UNIX_DIAG_REQ.pack(socket.AF_UNIX, 0, 0, 0xFFFFFFFF, 0, UDIAG_SHOW_NAME | UDIAG_SHOW_PEER, 0xFFFFFFFF,
                                 0xFFFFFFFF)
    header = NLMSG_HDR.pack(NLMSG_HDR.size + len(request), SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST | NLM_F_DUMP, 1, 0)
    sockets = {}
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_SOCK_DIAG) as netlink:
        netlink.settimeout(10)
        netlink.sendto(header + request, (0, 0))
        while True:
            data = netlink.recv(1 << 20)
            offset = 0
            while offset + NLMSG_HDR.size <= len(data):
                length, kind, _flags, _seq, _pid = NLMSG_HDR.unpack_from(data, offset)
                if kind == NLMSG_DONE:
                    return sockets
                if kind == NLMSG_ERROR:
                    code = -struct.unpack_from("=i", data, offset + NLMSG_HDR.size)[0]
                    raise OSError(code, "sock_diag: " + os.strerror(code))
                if length < NLMSG_HDR.size + UNIX_DIAG_MSG.size:
                    break
                inode = UNIX_DIAG_MSG.unpack_from(data, offset + NLMSG_HDR.size)[4]
                name, peer = "", 0
                attr, end = offset + NLMSG_HDR.size + UNIX_DIAG_MSG.size, offset + length
                while attr + 4 <= end:
                    attr_len, attr_type = struct.unpack_from("=HH", data, attr)
                    if attr_len < 4:
                        break
                    payload = data[attr + 4:attr + attr_len]
                    if attr_type == UNIX_DIAG_NAME:
                        # abstract names start with a NUL byte; path names may end with one
                        name = "@" + payload[1:].decode(errors="replace") if payload[:1] == b"\0" else \
                            payload.rstrip(b"\0").decode(errors="replace")
                    elif attr_type == UNIX_DIAG_PEER and len(payload) >= 4:
                        peer = struct.unpack_from("=I", payload)[0]
                    attr += (attr_len + 3) & ~3
                sockets[inode] = (name, peer)
                offset += (length + 3) & ~3


def libvirt_peers(pid):
    """Paths of the libvirt sockets the process is connected to."""
    table = unix_sockets()
    peers = (table.get(table[inode][1], ("", 0))[0] for inode in socket_inodes(pid) if inode in table)
    return sorted({path for path in peers if path.startswith(LIBVIRT_SOCKET_DIRS)})


def libvirt_answers(uri):
    """(True, version) when libvirt answers a read-only connection to uri, as the monitors open it; else (False, why)."""
    try:
        import libvirt  # pylint: disable=import-outside-toplevel
    except ImportError:
        return False, "python3-libvirt is not installed"
    libvirt.registerErrorHandler(lambda _context, _error: None, None)
    try:
        connection = libvirt.openReadOnly(uri)
        try:
            version = connection.getLibVersion()
        finally:
            connection.close()
    except libvirt.libvirtError as error:
        return False, str(error)
    return True, "%d.%d.%d" % (version // 1000000, version // 1000 % 1000, version % 1000)


def check_libvirt(unit, pid, config):
    uri = option(config, "libvirt", "connection_uri", "qemu:///system")
    parts = urlsplit(uri)
    if parts.netloc or "+" in parts.scheme:
        return "libvirt connection not checked (remote URI %s)" % uri
    deadline = time.monotonic() + LIBVIRT_RECONNECT_WAIT
    while True:
        peers = libvirt_peers(pid)
        if peers:
            return "connected to libvirt (%s)" % ", ".join(peers)
        if time.monotonic() >= deadline:
            break
        time.sleep(1)
    answers, detail = libvirt_answers(uri)
    if answers:
        raise Problem("%s holds no connection to libvirt, although libvirt %s answers on %s: its event loop has stopped"
                      % (unit, detail, uri), restart=True)
    raise Problem("%s holds no connection to libvirt, and libvirt does not answer on %s (%s)" % (unit, uri, detail))


def check_crm_mon(config):
    """What the host monitor reads: crm_mon -X with quorum, and this host among the remote nodes."""
    hostname = option(config, "DEFAULT", "hostname") or socket.gethostname()
    try:
        result = run(["crm_mon", "-X"])
    except FileNotFoundError:
        raise Problem("crm_mon is not installed (pacemaker-cli-utils)") from None
    except subprocess.TimeoutExpired:
        raise Problem("crm_mon -X did not answer within %d s on this node" % COMMAND_TIMEOUT) from None
    if result.returncode != 0:
        detail = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise Problem("crm_mon -X failed on this node (exit %d: %s); is pacemaker_remote running and connected?"
                      % (result.returncode, detail))
    try:
        status = ET.fromstring(result.stdout)
    except ET.ParseError as error:
        raise Problem("crm_mon -X printed no readable XML (%s)" % error) from None
    current_dc = status.find("summary/current_dc")
    if current_dc is None or current_dc.get("with_quorum") != "true":
        raise Problem("crm_mon -X: the cluster has no quorum, so the host monitor skips its checks")
    remotes = {node.get("name"): node.get("online") for node in status.findall("nodes/node")
               if node.get("type") == "remote"}
    if hostname not in remotes:
        raise Problem("crm_mon -X does not list this host (%s) among the remote nodes (%s)"
                      % (hostname, ", ".join(sorted(remotes)) or "none"))
    return "crm_mon -X: quorum, %d remote node(s), %s online=%s" % (len(remotes), hostname, remotes[hostname])


def host_log_file(config, binary):
    log_file, log_dir = option(config, "DEFAULT", "log_file"), option(config, "DEFAULT", "log_dir")
    if log_file:
        return os.path.join(log_dir or "", log_file)
    return os.path.join(log_dir, binary + ".log") if log_dir else None


def check_host_heartbeat(config, binary, uptime, crm_mon_works):
    interval = int_option(config, "host", "monitoring_interval", 60)
    limit = 3 * interval + 30
    path = host_log_file(config, binary)
    if not path:
        return "polling not checked (no [DEFAULT] log_dir or log_file)"
    try:
        age = time.time() - os.stat(path).st_mtime
    except FileNotFoundError:
        age = None
    if age is not None and age <= limit:
        return "polls (log written %d s ago)" % max(age, 0)
    if uptime <= limit:
        return "polling not judged yet (started %d s ago)" % uptime
    written = "never written" if age is None else "last written %d s ago" % age
    raise Problem("the host monitor's log %s is %s (it logs every poll, every %d s): its loop is stuck"
                  % (path, written, interval), restart=crm_mon_works)


def check_process_loop(config, pid, baseline, started_at):
    """The process monitor's loop still reaps its `ps -ef` children: cminflt grows."""
    interval = int_option(config, "process", "check_interval", 5)
    deadline = started_at + 2 * interval + 5
    while True:
        try:
            current = int(proc_stat(pid)[8])
        except OSError:
            raise Problem("its main process %d is gone" % pid, restart=True) from None
        if current != baseline:
            return "its loop runs (children reaped)"
        if time.monotonic() >= deadline:
            raise Problem("the process monitor ran no `ps -ef` in %d s (check_interval %d s): its loop has stopped"
                          % (2 * interval + 5, interval), restart=True)
        time.sleep(1)


def check_api(config):
    """A token for the monitors' user and an answer of the Masakari API, the way the monitors send notifications."""
    try:
        # pylint: disable=import-outside-toplevel
        import openstack.connection
        from keystoneauth1 import loading
        from keystoneauth1 import session as ks_session
    except ImportError as error:
        raise Problem("cannot load keystoneauth1/openstacksdk (%s)" % error) from None
    user = option(config, "api", "username", "?")
    auth_url = option(config, "api", "auth_url", "?")
    interface = option(config, "api", "api_interface", "public")
    region = option(config, "api", "region", "RegionOne")
    try:
        loader = loading.get_plugin_loader(option(config, "api", "auth_type", "password"))
        values = {}
        for opt in loader.get_options():
            value = option(config, "api", opt.dest)
            if value is not None:
                values[opt.dest] = opt.type(value) if callable(opt.type) else value
        auth = loader.load_from_options(**values)
    except Exception as error:  # pylint: disable=broad-exception-caught
        raise Problem("[api] credentials are incomplete (%s)" % error) from None
    verify = True
    if (option(config, "api", "insecure", "false") or "").lower() in ("true", "yes", "1", "on"):
        verify = False
    elif option(config, "api", "cafile"):
        verify = option(config, "api", "cafile")
    cert = option(config, "api", "certfile")
    if cert and option(config, "api", "keyfile"):
        cert = (cert, option(config, "api", "keyfile"))
    session = ks_session.Session(auth=auth, verify=verify, cert=cert, timeout=API_TIMEOUT)
    try:
        session.get_token()
    except Exception as error:  # pylint: disable=broad-exception-caught
        raise Problem("no Keystone token for user %s at %s: %s" % (user, auth_url, error)) from None
    try:
        endpoint = session.get_endpoint(service_type="instance-ha", interface=interface, region_name=region)
    except Exception as error:  # pylint: disable=broad-exception-caught
        raise Problem("catalog lookup of instance-ha failed: %s" % error) from None
    if not endpoint:
        raise Problem("no %s instance-ha (Masakari) endpoint in region %s of the catalog" % (interface, region))
    try:
        connection = openstack.connection.Connection(session=session, interface=interface, region_name=region)
        next(iter(connection.instance_ha.segments(limit=1)), None)
    except Exception as error:  # pylint: disable=broad-exception-caught
        raise Problem("the Masakari API at %s does not answer user %s: %s" % (endpoint, user, error)) from None
    return "Keystone token for %s, Masakari API answers at %s" % (user, endpoint)


def restart_unit(unit):
    run(["systemctl", "reset-failed", unit])
    try:
        result = run(["systemctl", "restart", unit], timeout=120)
    except subprocess.TimeoutExpired:
        return "restart of %s timed out" % unit
    if result.returncode != 0:
        return "restart of %s failed: %s" % (unit, result.stderr.strip() or result.returncode)
    return "restarted %s" % unit


def check_monitor(monitor, config, grace, restart):
    """Checks one monitor; returns True when it is live."""
    unit, binary = MONITORS[monitor]
    started_at = time.monotonic()
    try:
        pid, uptime = check_process(unit, binary)
        baseline = int(proc_stat(pid)[8]) if monitor == "process" else None
        notes = ["pid %d, up %d s" % (pid, uptime)]
        if uptime < grace:
            notes.append("within the grace time (%d s): only the process is checked" % grace)
        elif monitor in LIBVIRT_MONITORS:
            notes.append(check_libvirt(unit, pid, config))
        elif monitor == "host":
            try:
                notes.append(check_crm_mon(config))
            except Problem as outside:
                # the loop may be stuck as well: say so, though a restart cannot cure it while crm_mon fails here
                try:
                    check_host_heartbeat(config, binary, uptime, False)
                except Problem as stalled:
                    raise Problem("%s; and %s" % (outside, stalled)) from None
                raise
            notes.append(check_host_heartbeat(config, binary, uptime, True))
        elif monitor == "process":
            notes.append(check_process_loop(config, pid, baseline, started_at))
    except Problem as problem:
        if problem.restart and restart:
            say(3, "%s: NOT LIVE - %s; %s" % (monitor, problem, restart_unit(unit)))
        elif problem.restart:
            say(3, "%s: NOT LIVE - %s (a restart of %s would cure it)" % (monitor, problem, unit))
        else:
            say(3, "%s: NOT LIVE - %s (not restarted: the cause is outside the monitor)" % (monitor, problem))
        return False
    except Exception as error:  # pylint: disable=broad-exception-caught
        say(3, "%s: NOT CHECKED - %s: %s" % (monitor, type(error).__name__, error))
        return False
    say(6, "%s: live - %s" % (monitor, "; ".join(notes)))
    return True


def main(argv=None):
    parser = argparse.ArgumentParser(description="Liveness check of the Masakari monitors on this compute.")
    parser.add_argument("--config", default="/etc/masakarimonitors/masakarimonitors.conf",
                        help="the monitors' configuration file")
    parser.add_argument("--grace", type=int, default=60,
                        help="seconds after a monitor's (re)start during which only its process is judged")
    parser.add_argument("--restart", action="store_true", help="restart monitors that a restart cures")
    parser.add_argument("--no-api", dest="api", action="store_false",
                        help="skip the Keystone and Masakari API check")
    parser.add_argument("monitors", nargs="+", choices=sorted(MONITORS), metavar="MONITOR",
                        help="monitors to check: " + ", ".join(sorted(MONITORS)))
    args = parser.parse_args(argv)
    try:
        config = read_config(args.config)
    except (OSError, configparser.Error) as error:
        say(3, "cannot read %s: %s" % (args.config, error))
        return 2
    live = [check_monitor(monitor, config, args.grace, args.restart) for monitor in dict.fromkeys(args.monitors)]
    if args.api:
        try:
            say(6, "api: reachable - %s" % check_api(config))
        except Problem as problem:
            say(3, "api: NOT REACHABLE - %s (the monitors cannot send notifications; not restarted)" % problem)
            live.append(False)
    return 0 if all(live) else 1


if __name__ == "__main__":
    sys.exit(main())
