# -*- coding: utf-8 -*-
# Copyright: hastack.openstack contributors
# Apache License 2.0 (see galaxy.yml)
"""masakari_notifications: an ansible-rulebook event source of Masakari notifications.

It polls the Masakari (instance-ha) notifications API with openstacksdk and puts every notification it has not
seen before on the queue, once, as an event, so that a rulebook can run the collection's recovery playbook
(hastack.openstack.recover) for it. See extensions/eda/rulebooks/recover.yml.

Which notifications: those of the watched segments. By default every segment whose ``enabled`` is false: upstream
Masakari's engine ignores (status ``ignored``) the notifications of a disabled segment, and this collection's
playbook recovers the hosts of such segments, so that the engine and the playbook never both act on one
failure. An API older than microversion 1.2 has no ``enabled`` flag (every segment acts as enabled): nothing is
watched there unless ``segments`` names segments.

Arguments (all optional):

    cloud:          name of a cloud of clouds.yaml, or a complete cloud dict; not set, openstacksdk's defaults
                    (OS_CLOUD, OS_* variables)
    auth:           an auth dict (auth_url, username, password, project_name, ...) instead of, or over, ``cloud``
    auth_type, region_name, interface, validate_certs, ca_cert: as the collection's modules take them
    interval:       seconds between two polls (default 2)
    segments:       names of the segments to watch (default, or empty: every segment whose enabled is false)
    types:          notification types to pass on: COMPUTE_HOST, VM, PROCESS (default: all three)
    since:          only notifications generated at or after this time, ISO 8601 (UTC without a zone) or seconds
                    since the epoch (default: when the source starts, minus ``lookback``)
    lookback:       seconds before the start to look back for notifications (default 0); clocks of the monitors
                    that run behind this host's, or a restart of the rulebook, are reasons for a few minutes

Event:

    masakari:
      id: notification uuid
      type: COMPUTE_HOST | VM | PROCESS
      hostname: the Masakari host the notification came from (resolved from its source_host_uuid)
      payload: what the monitor reported
      generated_time: when the monitor saw it, ISO 8601 with the UTC offset
      status: the notification's status when it was first seen (new, running, ignored, ...)
      segment: {name, uuid, recovery_method}
    meta:
      masakari_cloud, source_host_uuid, created_at, updated_at, notification_id (the database key)

Each poll lists the notifications newest first (by the API's creation time) and stops at those created more than
a minute before the newest one seen in an earlier poll: a poll costs a page or two whatever the history, and the
set of notifications seen (bounded) needs to remember only that minute. An API error (Masakari or Keystone away)
is logged and the next poll tries again; nothing is lost, as only a poll that read everything it needed marks
notifications seen.

The blocking openstacksdk calls run in a thread of the event loop's executor. Nothing here needs
ansible-rulebook; run this file directly (``python masakari_notifications.py --cloud admin``) to print the events.

Example:

    - name: Masakari notifications of disabled segments
      hosts: all
      sources:
        - hastack.openstack.masakari_notifications:
            cloud: admin
            interval: 2
            lookback: 300
      rules:
        - name: Show them
          condition: event.masakari is defined
          action:
            print_event:
"""

from __future__ import annotations

import asyncio
import collections
import datetime
import logging
import re
from typing import Any, Dict, List, Optional

try:
    import openstack
except ImportError:  # reported when the source starts, not when ansible-rulebook loads it
    openstack = None

LOGGER = logging.getLogger("hastack.openstack.masakari_notifications")

NOTIFICATION_TYPES = ("COMPUTE_HOST", "VM", "PROCESS")
CONNECTION_ARGS = ("cloud", "auth", "auth_type", "region_name", "interface", "validate_certs", "ca_cert")
KNOWN_ARGS = CONNECTION_ARGS + ("interval", "segments", "types", "since", "lookback")
DEFAULT_INTERVAL = 2.0
# Notifications created this long before the newest one seen are not looked at again: concurrent API workers
# may commit a little out of order, never by a minute.
OVERLAP = datetime.timedelta(seconds=60)
SEEN_LIMIT = 10000
PAGE_SIZE = 100

UTC = datetime.timezone.utc
_EPOCH = re.compile(r"^[+-]?\d+(?:\.\d*)?$")
_ISO_8601 = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?"
                       r"\s*(Z|z|[+-]\d{2}(?::?\d{2})?)?$")


def parse_time(value: Any) -> datetime.datetime:
    """An aware UTC datetime of ISO 8601 text (no zone: UTC, as Masakari answers) or seconds since the epoch."""
    if isinstance(value, datetime.datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, bool) or value is None:
        raise ValueError("not a time: %r" % (value,))
    if isinstance(value, (int, float)) or _EPOCH.match(str(value).strip()):
        try:
            return datetime.datetime.fromtimestamp(float(value), UTC)
        except (OverflowError, OSError) as error:
            raise ValueError("seconds since the epoch out of range: %r (%s)" % (value, error)) from None
    match = _ISO_8601.match(str(value).strip())
    if match is None:
        raise ValueError("not ISO 8601 nor seconds since the epoch: %r" % (value,))
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    parsed = datetime.datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0),
                               int((fraction or "0")[:6].ljust(6, "0")), tzinfo=UTC)
    if zone and zone not in ("Z", "z"):
        digits = zone[1:].replace(":", "")
        offset = datetime.timedelta(hours=int(digits[:2]), minutes=int(digits[2:4] or 0))
        parsed = parsed - offset if zone[0] == "+" else parsed + offset
    return parsed


def utc_now() -> datetime.datetime:
    return datetime.datetime.now(UTC)


def _optional_time(value: Any) -> Optional[datetime.datetime]:
    try:
        return parse_time(value)
    except ValueError:
        return None


class Settings:
    """The source's arguments, checked: a mistake stops the source at once with a clear message."""

    def __init__(self, args: Dict[str, Any]):
        args = dict(args or {})
        unknown = sorted(key for key in args if key not in KNOWN_ARGS and not key.startswith("eda_"))
        if unknown:
            LOGGER.warning("masakari_notifications: unknown arguments ignored: %s", ", ".join(unknown))
        self.connection = dict((key, args[key]) for key in CONNECTION_ARGS if args.get(key) not in (None, ""))
        if "auth" in self.connection and not isinstance(self.connection["auth"], dict):
            raise ValueError("masakari_notifications: auth must be a dict")

        self.interval = self._number(args, "interval", DEFAULT_INTERVAL)
        if self.interval <= 0:
            raise ValueError("masakari_notifications: interval must be more than 0 seconds")
        lookback = self._number(args, "lookback", 0)
        if lookback < 0:
            raise ValueError("masakari_notifications: lookback must be 0 seconds or more")

        segments = args.get("segments") or []
        if isinstance(segments, str):
            segments = [segments]
        if not isinstance(segments, (list, tuple)) or not all(isinstance(name, str) for name in segments):
            raise ValueError("masakari_notifications: segments must be a list of segment names")
        self.segments = list(segments)

        types = args.get("types") or list(NOTIFICATION_TYPES)
        if isinstance(types, str):
            types = [types]
        wrong = [kind for kind in types if kind not in NOTIFICATION_TYPES]
        if wrong:
            raise ValueError("masakari_notifications: types must be among %s, not %s"
                             % (", ".join(NOTIFICATION_TYPES), ", ".join(str(kind) for kind in wrong)))
        self.types = set(types)

        if args.get("since") not in (None, ""):
            try:
                self.since = parse_time(args["since"])
            except ValueError as error:
                raise ValueError("masakari_notifications: since: %s" % error) from None
        else:
            self.since = utc_now() - datetime.timedelta(seconds=lookback)

    @staticmethod
    def _number(args: Dict[str, Any], name: str, default: float) -> float:
        value = args.get(name)
        if value in (None, ""):
            return float(default)
        try:
            return float(value)  # --env-vars give text
        except (TypeError, ValueError):
            raise ValueError("masakari_notifications: %s must be a number of seconds, not %r" % (name, value)) from None


def connect(settings: Settings) -> Any:
    """The openstacksdk connection (tests replace this function)."""
    if openstack is None:
        raise RuntimeError("masakari_notifications needs openstacksdk (pip install openstacksdk)")
    config = dict(settings.connection)
    if isinstance(config.get("cloud"), dict):  # a complete cloud configuration, as the modules take it
        config.update(config.pop("cloud"))
    if "validate_certs" in config:
        config["verify"] = config.pop("validate_certs")
    if "ca_cert" in config:
        config["cacert"] = config.pop("ca_cert")
    return openstack.connect(**config)


class NotificationPoller:
    """What one poll of the notifications API makes of them; state kept between polls.

    ``poll()`` blocks (openstacksdk) and changes the state only once it has got everything: a poll that fails
    half-way leaves nothing marked seen, and the next one sees the same notifications again.
    """

    def __init__(self, conn: Any, settings: Settings):
        self.conn = conn
        self.settings = settings
        self.seen: "collections.OrderedDict[str, None]" = collections.OrderedDict()
        self.high_water: Optional[datetime.datetime] = None  # newest created_at seen
        self.hosts: Dict[str, tuple] = {}  # host uuid -> (host name, segment uuid), hosts of watched segments
        self._hosts_of: frozenset = frozenset()  # the watched segments self.hosts was read for
        self._warned: set = set()

    # --- segments ---------------------------------------------------------------------------------------------

    def _warn_once(self, key: str, message: str, *args: Any) -> None:
        if key not in self._warned:
            self._warned.add(key)
            LOGGER.warning(message, *args)

    def watched_segments(self, segments: List[Any]) -> Dict[str, Any]:
        """{uuid: segment} of the segments whose notifications are passed on."""
        if self.settings.segments:
            by_name = dict((segment.name, segment) for segment in segments)
            watched = {}
            for name in self.settings.segments:
                segment = by_name.get(name)
                if segment is None:
                    self._warn_once("missing:" + name, "Masakari has no segment named %r (yet): not watched", name)
                    continue
                if getattr(segment, "is_enabled", None) is not False:
                    self._warn_once("enabled:" + name, "Segment %r is enabled: Masakari's engine acts on its "
                                    "notifications too, and so would the rulebook", name)
                watched[segment.uuid] = segment
            return watched
        if segments and all(getattr(segment, "is_enabled", None) is None for segment in segments):
            self._warn_once("no-enabled", "The Masakari API gives no segment 'enabled' flag (microversion < 1.2): no "
                            "segment is disabled, none is watched; name segments to watch with 'segments'")
        return dict((segment.uuid, segment) for segment in segments if getattr(segment, "is_enabled", None) is False)

    def _read_hosts(self, watched: Dict[str, Any]) -> Dict[str, tuple]:
        hosts = {}
        for segment_uuid in watched:
            try:
                members = list(self.conn.instance_ha.hosts(segment_uuid))
            except openstack_not_found():
                continue  # deleted since it was listed
            for host in members:
                hosts[host.uuid] = (host.name, segment_uuid)
        return hosts

    # --- one poll ---------------------------------------------------------------------------------------------

    def _recent(self) -> List[Any]:
        """The notifications to look at, newest first: down to OVERLAP before the newest seen in earlier polls."""
        query = dict(generated_since=self.settings.since.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), sort_key="created_at",
                     sort_dir="desc", limit=PAGE_SIZE)
        floor = self.high_water - OVERLAP if self.high_water is not None else None
        recent = []
        for notification in self.conn.instance_ha.notifications(**query):
            created = _optional_time(notification.created_at)
            if floor is not None and created is not None and created < floor:
                break  # the rest is older still
            recent.append(notification)
        return recent

    def poll(self) -> List[Dict[str, Any]]:
        """The events of the notifications not seen before, oldest first; blocks."""
        proxy = self.conn.instance_ha
        watched = self.watched_segments(list(proxy.segments()))
        recent = self._recent()
        new = [n for n in recent if n.notification_uuid not in self.seen]

        hosts = self.hosts
        if frozenset(watched) != self._hosts_of or any(
                n.source_host_uuid not in hosts and n.type in self.settings.types for n in new):
            hosts = self._read_hosts(watched)

        events = []
        for notification in sorted(new, key=lambda n: (_optional_time(n.created_at) or self.settings.since,
                                                       n.id or 0)):
            if notification.type not in self.settings.types:
                continue
            hostname, segment_uuid = hosts.get(notification.source_host_uuid, (None, None))
            segment_uuid = getattr(notification, "failover_segment_uuid", None) or segment_uuid
            segment = watched.get(segment_uuid)
            if segment is None:
                LOGGER.debug("Notification %s (%s) is not of a watched segment", notification.notification_uuid,
                             notification.type)
                continue
            events.append(self.event(notification, hostname, segment))

        # Everything was read: only now does the state move on.
        self.hosts, self._hosts_of = hosts, frozenset(watched)
        for notification in new:
            self.seen[notification.notification_uuid] = None
        while len(self.seen) > SEEN_LIMIT:
            self.seen.popitem(last=False)
        created = [t for t in (_optional_time(n.created_at) for n in recent) if t is not None]
        if created and (self.high_water is None or max(created) > self.high_water):
            self.high_water = max(created)
        return events

    def event(self, notification: Any, hostname: Optional[str], segment: Any) -> Dict[str, Any]:
        generated = _optional_time(notification.generated_time)
        cloud = self.settings.connection.get("cloud")
        return dict(
            masakari=dict(
                id=notification.notification_uuid,
                type=notification.type,
                hostname=hostname,
                payload=dict(notification.payload or {}),
                generated_time=generated.isoformat() if generated is not None else notification.generated_time,
                status=notification.status,
                segment=dict(name=segment.name, uuid=segment.uuid, recovery_method=segment.recovery_method),
            ),
            meta=dict(
                masakari_cloud=cloud if isinstance(cloud, str) else None,
                source_host_uuid=notification.source_host_uuid,
                created_at=notification.created_at,
                updated_at=notification.updated_at,
                notification_id=notification.id,
            ),
        )


def openstack_not_found() -> type:
    if openstack is None:
        return LookupError
    return openstack.exceptions.NotFoundException


async def main(queue: asyncio.Queue, args: Dict[str, Any]) -> None:
    """ansible-rulebook's entry point: polls until cancelled."""
    settings = Settings(args)
    loop = asyncio.get_running_loop()
    conn = await loop.run_in_executor(None, connect, settings)
    poller = NotificationPoller(conn, settings)
    LOGGER.info("Polling Masakari notifications every %s s, generated since %s, of %s", settings.interval,
                settings.since.isoformat(), ", ".join(settings.segments) or "every disabled segment")
    failures = 0
    while True:
        try:
            events = await loop.run_in_executor(None, poller.poll)
        except Exception as error:  # pylint: disable=broad-exception-caught
            failures += 1
            if failures == 1 or failures % 30 == 0:
                LOGGER.warning("Polling Masakari failed (%d time(s) in a row), trying again in %s s: %s: %s",
                               failures, settings.interval, type(error).__name__, error)
        else:
            if failures:
                LOGGER.info("Polling Masakari works again after %d failure(s)", failures)
            failures = 0
            for event in events:
                await queue.put(event)
        await asyncio.sleep(settings.interval)


if __name__ == "__main__":
    # A test harness, as other event sources have: print the events of a real cloud.
    import argparse
    import json

    class _PrintQueue(asyncio.Queue):
        async def put(self, item: Any) -> None:
            print(json.dumps(item, indent=2, default=str), flush=True)

    parser = argparse.ArgumentParser(description="Print the events masakari_notifications would put on the queue.")
    parser.add_argument("--cloud", help="cloud of clouds.yaml (default: OS_CLOUD / OS_* variables)")
    parser.add_argument("--interval", type=float, default=DEFAULT_INTERVAL)
    parser.add_argument("--lookback", type=float, default=3600.0)
    parser.add_argument("--segment", action="append", dest="segments", help="segment to watch (repeat)")
    parser.add_argument("--type", action="append", dest="types", choices=NOTIFICATION_TYPES)
    options = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        asyncio.run(main(_PrintQueue(), dict((key, value) for key, value in vars(options).items() if value)))
    except KeyboardInterrupt:
        pass
