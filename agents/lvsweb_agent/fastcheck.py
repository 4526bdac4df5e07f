"""A fast yes/no check that a document conforms to host-state.schema.json.

jsonschema needs ~300 us per real server; a 5,000-service document took longer to validate than the
kernel takes to load it. This check is a strict hand-written transcription of the schema: when it says
yes, the document is valid (tests/agent/test_fastcheck.py checks it never says yes where jsonschema says
no); when it says no, jsonschema runs and produces the error messages. The schema stays the authority.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from functools import cache
from importlib import resources
from typing import Any

from lvsweb_agent.model import SCHEDULERS as SCHEDULER_NAMES
from lvsweb_agent.model import address_info

SCHEDULERS = frozenset(SCHEDULER_NAMES)
FLAGS = frozenset(("sh-fallback", "sh-port", "mh-fallback", "mh-port"))
_INTERFACE = re.compile(r"[A-Za-z0-9_.:@-]{1,15}")
_IP_CHARS = re.compile(r"[0-9A-Fa-f.:]+")
_V4_CHARS = re.compile(r"[0-9.]+")
U32 = 4294967295

TOP_KEYS = frozenset(("version", "host", "revision", "director", "real_server"))
ENDPOINT_KEYS = frozenset(("vip", "type", "address", "port", "checksum"))
DIRECTOR_KEYS = frozenset(("owns_ipvs_table", "drain_timeout", "ip_forward", "vips", "services", "ha"))
VIP_KEYS = frozenset(("address", "prefix", "interface"))
SERVICE_KEYS = frozenset(
    ("protocol", "address", "port", "fwmark", "family", "scheduler", "flags", "persistence", "one_packet")
) | {"real_servers", "quorum"}
DEST_KEYS = frozenset(
    ("address", "port", "weight", "forward", "tunnel", "upper_threshold", "lower_threshold", "health_check")
)
TUNNEL_KEYS = frozenset(("type", "port", "checksum"))
HEALTH_KEYS = frozenset(
    ("type", "port", "path", "host", "expect", "body", "interval", "timeout", "rise", "fall", "on_failure", "tunnel")
)
_PATH = re.compile(r"/[!-~]*")
_HOST = re.compile(r"[!-~]*")


def _int(value: Any, low: int, high: int) -> bool:
    return type(value) is int and low <= value <= high


def _ip(value: str) -> bool:
    return 2 <= len(value) <= 45 and _IP_CHARS.fullmatch(value) is not None and address_info(value) is not None


def _ipv4(value: str) -> bool:
    if not _V4_CHARS.fullmatch(value):
        return False
    info = address_info(value)
    return info is not None and info[1] == "ipv4"


def _address(value: Any) -> bool:
    return type(value) is str and _ip(value)


def _interface(value: Any) -> bool:
    return type(value) is str and _INTERFACE.fullmatch(value) is not None


def _unique_strings(values: Any, check: Callable[[Any], bool]) -> bool:
    return type(values) is list and all(check(v) for v in values) and len(set(values)) == len(values)


def _number(value: Any, high: float) -> bool:
    return type(value) in (int, float) and 0 < value <= high


def _health(check: Any) -> bool:
    if type(check) is not dict or not check.keys() <= HEALTH_KEYS:
        return False
    if type(check.get("type")) is not str or check["type"] not in ("tcp", "http", "https"):
        return False
    port = check.get("port")
    if port is not None and not _int(port, 1, 65535):
        return False
    if "path" in check and not (
        type(check["path"]) is str and len(check["path"]) <= 1000 and _PATH.fullmatch(check["path"])
    ):
        return False
    if "host" in check and not (
        type(check["host"]) is str and len(check["host"]) <= 253 and _HOST.fullmatch(check["host"])
    ):
        return False
    if "body" in check and not (type(check["body"]) is str and len(check["body"]) <= 1000):
        return False
    if "expect" in check:
        expect = check["expect"]
        if type(expect) is not list or len(expect) != 2 or not all(_int(v, 100, 599) for v in expect):
            return False
    for key in ("interval", "timeout"):
        if key in check and not _number(check[key], 3600):
            return False
    for key in ("rise", "fall"):
        if key in check and not _int(check[key], 1, 100):
            return False
    if "on_failure" in check and (
        type(check["on_failure"]) is not str or check["on_failure"] not in ("weight0", "remove")
    ):
        return False
    return "tunnel" not in check or type(check["tunnel"]) is bool


def _dest(dest: Any) -> bool:
    if type(dest) is not dict or not dest.keys() <= DEST_KEYS:
        return False
    health = dest.get("health_check")
    if health is not None and not _health(health):
        return False
    if not ("address" in dest and "port" in dest and "forward" in dest):
        return False
    if not (_address(dest["address"]) and _int(dest["port"], 0, 65535)):
        return False
    if dest["forward"] not in ("tun", "dr", "nat") or type(dest["forward"]) is not str:
        return False
    if "weight" in dest and not _int(dest["weight"], 0, 2147483647):
        return False
    for key in ("upper_threshold", "lower_threshold"):
        if key in dest and not _int(dest[key], 0, U32):
            return False
    tunnel = dest.get("tunnel")
    if tunnel is not None:
        if type(tunnel) is not dict or not tunnel.keys() <= TUNNEL_KEYS or "type" not in tunnel:
            return False
        if tunnel["type"] not in ("ipip", "gue", "gre") or type(tunnel["type"]) is not str:
            return False
        port = tunnel.get("port")
        if port is not None and not _int(port, 1, 65535):
            return False
        if "checksum" in tunnel and tunnel["checksum"] not in ("none", "csum", "remcsum"):
            return False
        if "checksum" in tunnel and type(tunnel["checksum"]) is not str:
            return False
    return True


def _service(service: Any) -> bool:
    if type(service) is not dict or not service.keys() <= SERVICE_KEYS:
        return False
    scheduler = service.get("scheduler")
    if type(scheduler) is not str or scheduler not in SCHEDULERS:
        return False
    if "fwmark" in service:
        if "protocol" in service or "address" in service or "port" in service:
            return False
        if not _int(service["fwmark"], 1, U32):
            return False
    else:
        if not ("protocol" in service and "address" in service and "port" in service):
            return False
        if type(service["protocol"]) is not str or service["protocol"] not in ("tcp", "udp", "sctp"):
            return False
        if not (_address(service["address"]) and _int(service["port"], 0, 65535)):
            return False
    if "family" in service and (type(service["family"]) is not str or service["family"] not in ("ipv4", "ipv6")):
        return False
    if "flags" in service and not _unique_strings(service["flags"], lambda f: type(f) is str and f in FLAGS):
        return False
    if "one_packet" in service and type(service["one_packet"]) is not bool:
        return False
    persistence = service.get("persistence")
    if persistence is not None:
        if type(persistence) is not dict or not persistence.keys() <= {"timeout", "netmask"}:
            return False
        if not _int(persistence.get("timeout"), 1, U32):
            return False
        netmask = persistence.get("netmask")
        if netmask is not None and type(netmask) not in (str, int):
            return False
    quorum = service.get("quorum")
    if quorum is not None:
        if type(quorum) is not dict or quorum.keys() != {"min_up", "sorry_server"}:
            return False
        if not (_int(quorum["min_up"], 1, 65535) and _dest(quorum["sorry_server"])):
            return False
    dests = service.get("real_servers", [])
    return type(dests) is list and all(_dest(dest) for dest in dests)


def _endpoint(entry: Any) -> bool:
    if type(entry) is not dict or not ENDPOINT_KEYS >= entry.keys() >= {"vip", "type", "address"}:
        return False
    if not (_address(entry["vip"]) and _address(entry["address"]) and entry["type"] in ("ipip", "gue", "gre")):
        return False
    port = entry.get("port")
    return (port is None or _int(port, 1, 65535)) and entry.get("checksum", "none") in ("none", "csum", "remcsum")


def _recipe(recipe: Any, tun: bool = False) -> bool:
    if recipe is None:
        return True
    keys = {"vips", "uplinks", "tunnels"} if tun else {"vips", "uplinks"}
    if type(recipe) is not dict or not recipe.keys() <= keys or "vips" not in recipe:
        return False
    vip = _address if tun else lambda v: type(v) is str and _ipv4(v)
    if not _unique_strings(recipe["vips"], vip):
        return False
    tunnels = recipe.get("tunnels", [])
    if type(tunnels) is not list or not all(_endpoint(entry) for entry in tunnels):
        return False
    return "uplinks" not in recipe or _unique_strings(recipe["uplinks"], _interface)


@cache
def _ha_validator() -> Any:
    # A few VRRP instances: the schema's own validator on the `ha` part alone costs nothing next to the
    # services, which keep their hand-written check.
    import jsonschema

    schema = json.loads(resources.files("lvsweb_agent").joinpath("schema/host-state.schema.json").read_text())
    part = {"$defs": schema["$defs"], "type": "object", "$ref": "#/$defs/ha"}
    return jsonschema.Draft202012Validator(part, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def _ha_conforms(value: Any) -> bool:
    """`director.ha` (not null) against the schema's `ha` definition."""
    return bool(_ha_validator().is_valid(value))


def service_conforms(service: Any) -> bool:
    """True only if `service` is valid against the schema's definition of one director service."""
    return _service(service)


def conforms(doc: Any) -> bool:
    """True only if `doc` is valid against the schema (False may also mean "ask jsonschema")."""
    if type(doc) is not dict or not doc.keys() <= TOP_KEYS:
        return False
    if not (type(doc.get("version")) is int and doc["version"] == 1):
        return False
    host = doc.get("host")
    if type(host) is not str or not 1 <= len(host) <= 253 or not _int(doc.get("revision"), 0, 1 << 62):
        return False
    director = doc.get("director")
    if director is not None:
        if type(director) is not dict or not director.keys() <= DIRECTOR_KEYS:
            return False
        for key in ("owns_ipvs_table", "ip_forward"):
            if key in director and type(director[key]) is not bool:
                return False
        if "drain_timeout" in director and not _int(director["drain_timeout"], 0, 86400):
            return False
        if director.get("ha") is not None and not _ha_conforms(director["ha"]):
            return False
        vips = director.get("vips", [])
        if type(vips) is not list:
            return False
        for vip in vips:
            if type(vip) is not dict or not vip.keys() <= VIP_KEYS:
                return False
            if not (_address(vip.get("address")) and _interface(vip.get("interface"))):
                return False
            if "prefix" in vip and not _int(vip["prefix"], 0, 128):
                return False
        services = director.get("services", [])
        if type(services) is not list or not all(_service(service) for service in services):
            return False
    recipes = doc.get("real_server")
    if recipes is not None:
        if type(recipes) is not dict or not recipes.keys() <= {"tun", "dr"}:
            return False
        if not (_recipe(recipes.get("tun"), tun=True) and _recipe(recipes.get("dr"))):
            return False
    return True
