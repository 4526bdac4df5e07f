"""The kernel's IPVS connection sync daemon over generic netlink (IPVS_CMD_NEW/DEL/GET_DAEMON).

The active director runs the sync *master*: it multicasts (or sends to the group given) the state of its
connections; the backups run the sync *backup*, which puts what it hears into their own connection table.
After a failover the new active director already knows every connection and forwards it to the same real
server (measured in DESIGN.md: 20/20 TCP streams survive; 0/20 without the daemon). Attribute numbers and
byte orders are the kernel's (include/uapi/linux/ip_vs.h, net/netfilter/ipvs/ip_vs_ctl.c): the port is in host
byte order both ways (nla_get_u16 / nla_put_u16 of `mcast_port`, unlike a destination's port), the IPv4 group a
packed in_addr. (Read as big-endian, the kernel's default 8848 came back as 36898 and the HA follower restarted
the daemon on every round as "settings changed"; a port given was used byte-swapped on the wire.)
"""

from __future__ import annotations

import socket
import struct
from typing import TYPE_CHECKING

from lvsweb_agent.hadoc import SyncDaemon
from lvsweb_agent.netlink import NetlinkDecodeError, NetlinkError, _attrs, _check_span, _get, _walk, nla

if TYPE_CHECKING:
    from lvsweb_agent.netlink import GenericNetlink

CMD_NEW_DAEMON, CMD_DEL_DAEMON, CMD_GET_DAEMON = 9, 10, 11
CMD_ATTR_DAEMON = 3
DAEMON_STATE, DAEMON_MCAST_IFN, DAEMON_SYNC_ID, DAEMON_SYNC_MAXLEN = 1, 2, 3, 4
DAEMON_MCAST_GROUP, DAEMON_MCAST_GROUP6, DAEMON_MCAST_PORT, DAEMON_MCAST_TTL = 5, 6, 7, 8
ROLES = {"master": 1, "backup": 2}
ROLE_NAMES = {number: name for name, number in ROLES.items()}
DEFAULT_PORT, DEFAULT_GROUP, DEFAULT_TTL = 8848, "224.0.0.81", 1

_U32, _U16, _U8 = struct.Struct("=I"), struct.Struct("=H"), struct.Struct("=B")
_NAMES = {
    DAEMON_STATE: ("IPVS_DAEMON_ATTR_STATE", "a role"),
    DAEMON_MCAST_IFN: ("IPVS_DAEMON_ATTR_MCAST_IFN", "an interface"),
    DAEMON_SYNC_ID: ("IPVS_DAEMON_ATTR_SYNC_ID", "a sync id"),
    DAEMON_MCAST_PORT: ("IPVS_DAEMON_ATTR_MCAST_PORT", "a port"),
    DAEMON_MCAST_TTL: ("IPVS_DAEMON_ATTR_MCAST_TTL", "a TTL"),
}
_CMD_NAMES = {CMD_ATTR_DAEMON: ("IPVS_CMD_ATTR_DAEMON", "a sync daemon")}


def encode_start(role: str, sync: SyncDaemon) -> bytes:
    """IPVS_CMD_ATTR_DAEMON for NEW_DAEMON: role, interface, sync id and the settings the document gives."""
    parts = [
        nla(DAEMON_STATE, _U32.pack(ROLES[role])),
        nla(DAEMON_MCAST_IFN, sync.interface.encode() + b"\0"),
        nla(DAEMON_SYNC_ID, _U32.pack(sync.syncid)),
    ]
    if sync.mcast_group is not None:
        if ":" in sync.mcast_group:
            parts.append(nla(DAEMON_MCAST_GROUP6, socket.inet_pton(socket.AF_INET6, sync.mcast_group)))
        else:
            parts.append(nla(DAEMON_MCAST_GROUP, socket.inet_pton(socket.AF_INET, sync.mcast_group)))
    if sync.port is not None:
        parts.append(nla(DAEMON_MCAST_PORT, _U16.pack(sync.port)))
    if sync.ttl is not None:
        parts.append(nla(DAEMON_MCAST_TTL, _U8.pack(sync.ttl)))
    return nla(CMD_ATTR_DAEMON, b"".join(parts))


def encode_stop(role: str) -> bytes:
    """IPVS_CMD_ATTR_DAEMON for DEL_DAEMON: only the role."""
    return nla(CMD_ATTR_DAEMON, nla(DAEMON_STATE, _U32.pack(ROLES[role])))


def decode_daemon(data: bytes, start: int, end: int) -> tuple[str, SyncDaemon]:
    """(role, settings) from one GET_DAEMON reply; the kernel's defaults come back as None."""
    what = "sync daemon"
    _check_span(data, start, end, what)
    outer = _attrs(data, start, end, what, _CMD_NAMES)
    where = outer.get(CMD_ATTR_DAEMON)
    if where is None:
        raise NetlinkDecodeError(f"{what} reply without IPVS_CMD_ATTR_DAEMON")
    offset, size = where
    attrs = {kind: (at, length) for kind, at, length in _walk(data, offset, offset + size, what, _NAMES)}
    role = ROLE_NAMES.get(_get(data, attrs, DAEMON_STATE, _U32, what, _NAMES))
    if role is None:
        raise NetlinkDecodeError(f"{what}: unknown role {_get(data, attrs, DAEMON_STATE, _U32, what, _NAMES)}")
    if DAEMON_MCAST_IFN not in attrs:
        raise NetlinkDecodeError(f"{what} without an interface (attribute IPVS_DAEMON_ATTR_MCAST_IFN)")
    at, length = attrs[DAEMON_MCAST_IFN]
    interface = bytes(data[at : at + length]).split(b"\0", 1)[0].decode(errors="replace")
    port = _get(data, attrs, DAEMON_MCAST_PORT, _U16, what, _NAMES, default=0) or DEFAULT_PORT
    ttl = _get(data, attrs, DAEMON_MCAST_TTL, _U8, what, _NAMES, default=0) or DEFAULT_TTL
    group = None
    for kind, family, width in ((DAEMON_MCAST_GROUP, socket.AF_INET, 4), (DAEMON_MCAST_GROUP6, socket.AF_INET6, 16)):
        if kind in attrs and attrs[kind][1] == width:
            packed = bytes(data[attrs[kind][0] : attrs[kind][0] + width])
            if any(packed):
                group = socket.inet_ntop(family, packed)
    return role, SyncDaemon(
        syncid=_get(data, attrs, DAEMON_SYNC_ID, _U32, what, _NAMES),
        interface=interface,
        port=None if port == DEFAULT_PORT else port,
        mcast_group=None if group in (None, DEFAULT_GROUP) else group,
        ttl=None if ttl == DEFAULT_TTL else ttl,
    )


def read_daemons(genl: GenericNetlink) -> dict[str, SyncDaemon]:
    """The sync daemons running in this namespace: {'master' | 'backup': settings}."""
    if genl.family_id is None:
        return {}
    daemons = {}
    for data, start, end in genl.dump(CMD_GET_DAEMON):
        role, sync = decode_daemon(bytes(data), start, end)
        daemons[role] = sync
    return daemons


def _run(genl: GenericNetlink, cmd: int, attrs: bytes) -> None:
    outcome = genl.execute([(cmd, attrs)])[0]
    if outcome is None:
        raise NetlinkError(5, "no answer from the kernel")
    code, message = outcome
    if code:
        raise NetlinkError(code, message)


def start_daemon(genl: GenericNetlink, role: str, sync: SyncDaemon) -> None:
    """Start the `role` ('master' | 'backup') sync daemon; raises NetlinkError (EEXIST: one runs already)."""
    _run(genl, CMD_NEW_DAEMON, encode_start(role, sync))


def stop_daemon(genl: GenericNetlink, role: str) -> None:
    """Stop the `role` sync daemon (ESRCH when none runs)."""
    _run(genl, CMD_DEL_DAEMON, encode_stop(role))
