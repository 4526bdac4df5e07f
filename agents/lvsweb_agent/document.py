"""Validate a desired-state document (schema + rules the schema cannot say) and turn it into model objects."""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping
from dataclasses import replace
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lvsweb_agent.decap import Endpoint
from lvsweb_agent.fastcheck import conforms
from lvsweb_agent.hadoc import parse_ha

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator, ValidationError
from lvsweb_agent.model import (
    Address,
    DesiredState,
    Director,
    HealthCheck,
    Persistence,
    Quorum,
    RealServer,
    Recipe,
    Service,
    ServiceKey,
    Tunnel,
    family_of,
    format_hostport,
    normalize_address,
)

#: The document format this agent reads: the schema's `version` (a const). Heartbeats carry it
#: (facts `document_version`), so the console can warn before it sends a newer format an agent would refuse.
DOCUMENT_VERSION = 1


class DocumentError(ValueError):
    """The document is not acceptable. `problems` is a list of (json_path, message); nothing was applied."""

    def __init__(self, problems: list[tuple[str, str]]):
        self.problems = problems
        super().__init__("\n".join(f"{path}: {message}" for path, message in problems))


@cache
def schema() -> dict[str, Any]:
    """The JSON schema of the desired-state document."""
    text = resources.files("lvsweb_agent").joinpath("schema/host-state.schema.json").read_text()
    loaded: dict[str, Any] = json.loads(text)
    return loaded


@cache
def _validator() -> Draft202012Validator:
    # Imported here: jsonschema takes seconds to import under emulation and is only needed for messages.
    import jsonschema

    return jsonschema.Draft202012Validator(schema(), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def _json(value: object) -> str:
    """A value as the document writes it: `true`, `"80"`, `null` (not Python's `True`, `'80'`, `None`)."""
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)


def _schema_message(error: ValidationError) -> str:
    # Rephrase the messages jsonschema words for schema authors, and in Python's words (`True`, `'80'`), in
    # the document's own JSON words.
    schema = error.schema if isinstance(error.schema, Mapping) else {}  # a bool or unset for few keywords
    instance, value = _json(error.instance), error.validator_value
    if error.validator == "anyOf" and schema.get("anyOf", [{}])[0].get("format") == "ipv4":
        return f"{instance} is not an IPv4 or IPv6 address"
    if error.validator == "format":
        return f"{instance} is not an {str(value).replace('ipv', 'IPv')} address"
    if error.validator == "pattern" and schema.get("pattern", "").startswith("^[A-Za-z0-9_"):
        return f"{instance} is not a valid interface name (1-15 characters, no spaces or '/')"
    if error.validator == "pattern" and "0-9" in schema.get("pattern", ""):
        return f"{instance} is not a plain IP address"
    if error.validator == "not" and "protocol" in str(value):
        return f"{error.instance} is not allowed together with fwmark (a firewall-mark service has no {error.instance})"
    if error.validator == "type":
        types = list(value) if isinstance(value, list) else [value]
        return f"{instance} is not of type {', '.join(repr(name) for name in types)}"
    if error.validator == "enum":
        return f"{instance} is not one of {_json(value)}"
    if error.validator == "const":
        return f"{_json(value)} was expected"
    if error.validator in ("minimum", "maximum"):
        side = "less than the minimum" if error.validator == "minimum" else "greater than the maximum"
        return f"{instance} is {side} of {_json(value)}"
    return error.message


#: An address a format check refuses is not also reported for its pattern (one message per problem).
_ADDRESS_CHECKS = {"format", "anyOf"}


def validate_schema(doc: object) -> list[tuple[str, str]]:
    """Schema problems as (json_path, message), in document order; one per problem."""
    if conforms(doc):
        return []
    errors = sorted(_validator().iter_errors(doc), key=lambda e: [str(p) for p in e.absolute_path])
    address_paths = {error.json_path for error in errors if error.validator in _ADDRESS_CHECKS}
    problems = []
    for error in errors:
        if error.validator == "pattern" and error.json_path in address_paths:
            continue
        problems.append((error.json_path, _schema_message(error)))
    return problems


def load_document(path: str | Path) -> DesiredState:
    """Read, validate and parse a document file. Raises DocumentError."""
    try:
        doc = json.loads(Path(path).read_text())
    except OSError as exc:
        raise DocumentError([("$", f"cannot read {path}: {exc.strerror}")]) from exc
    except json.JSONDecodeError as exc:
        raise DocumentError([("$", f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}")]) from exc
    return parse_document(doc)


def parse_document(doc: object) -> DesiredState:
    """Validate a document (already decoded JSON) and return the desired state. Raises DocumentError."""
    problems = validate_schema(doc)
    if problems:
        raise DocumentError(problems)
    if not isinstance(doc, dict):  # the schema refuses anything else; this tells the type checker
        raise DocumentError([("$", "the document must be a JSON object")])
    parser = _Parser()
    state = parser.parse(doc)
    if parser.problems:
        raise DocumentError(parser.problems)
    return state


def parse_service(data: dict[str, Any], path: str) -> Service:
    """One service of a document (already checked against the schema, e.g. by fastcheck.service_conforms),
    with the rules a service alone can break; `path` is its place in the document. Raises DocumentError.
    (For a delta apply: the rules that span services, such as duplicate keys, are the caller's.)"""
    parser = _Parser()
    service = parser.service(data, path)
    if parser.problems or service is None:
        raise DocumentError(parser.problems)
    return service


def _valid_ipv4_netmask(mask: str) -> bool:
    """A dotted mask with contiguous one bits (ipaddress would also accept a hostmask like 0.0.0.255)."""
    try:
        value = int(ipaddress.IPv4Address(mask))
    except ValueError:
        return False
    inverted = ~value & 0xFFFFFFFF
    return inverted & (inverted + 1) == 0


_IPIP = Tunnel()


class _Parser:
    """Semantic rules; collects every problem with its JSON path."""

    def __init__(self) -> None:
        self.problems: list[tuple[str, str]] = []

    def problem(self, path: str, message: str) -> None:
        self.problems.append((path, message))

    def parse(self, doc: dict[str, Any]) -> DesiredState:
        director = self.director(doc.get("director"), "$.director")
        recipes = doc.get("real_server") or {}
        tun = self.recipe(recipes.get("tun"), "$.real_server.tun")
        dr = self.recipe(recipes.get("dr"), "$.real_server.dr")
        if tun and dr:
            for vip in set(tun.vips) & set(dr.vips):
                self.problem("$.real_server.dr.vips", f"{vip} is already in the tun recipe: a VIP is tun or dr")
        return DesiredState(host=doc["host"], revision=doc["revision"], director=director, tun=tun, dr=dr)

    def recipe(self, data: dict[str, Any] | None, path: str) -> Recipe | None:
        if data is None:
            return None
        vips = tuple(normalize_address(vip) for vip in data.get("vips", []))
        tunnels = self.endpoints(vips, data.get("tunnels", []), path) if path.endswith(".tun") else ()
        return Recipe(vips=vips, uplinks=tuple(data.get("uplinks", [])), tunnels=tunnels)

    def endpoints(self, vips: tuple[str, ...], entries: list[dict[str, Any]], path: str) -> tuple[Endpoint, ...]:
        """Every VIP's endpoints: its `tunnels` entries, else ipip in its own family."""
        given: dict[str, list[Endpoint]] = {}
        csum_to: dict[tuple[str, str], str] = {}  # (gre outer family, checksum) -> the address, first seen
        for index, entry in enumerate(entries):
            where = f"{path}.tunnels[{index}]"
            vip, kind, port = normalize_address(entry["vip"]), entry["type"], entry.get("port")
            checksum, address = entry.get("checksum", "none"), normalize_address(entry["address"])
            if vip not in vips:
                self.problem(f"{where}.vip", f"{vip} is not in this recipe's vips")
            if kind == "gue" and port is None:
                self.problem(f"{where}.port", "gue needs the UDP port the director sends to (the fou listener's)")
            if kind != "gue" and port is not None:
                self.problem(f"{where}.port", f"{kind} has no port; use null")
            if kind == "ipip" and checksum != "none":
                self.problem(f"{where}.checksum", "ipip has no checksum option; use none")
            if kind == "gre" and checksum == "remcsum":
                self.problem(f"{where}.checksum", "remote checksum offload (remcsum) exists only for gue")
            endpoint = Endpoint(vip=vip, type=kind, address=address, port=port or 0, checksum=checksum)
            if kind == "gre":
                # One GRE device per outer address takes its packets: with checksums or without, not both.
                first = csum_to.setdefault((endpoint.outer, checksum), address)
                other = csum_to.get((endpoint.outer, "none" if checksum == "csum" else "csum"))
                if other is not None or first != address:
                    self.problem(
                        f"{where}.checksum",
                        "all gre tunnels to one real server over one address family must agree on checksums "
                        "(one device decapsulates them all) and on the address they are sent to",
                    )
            if endpoint not in given.setdefault(vip, []):
                given[vip].append(endpoint)
        return tuple(endpoint for vip in vips for endpoint in given.get(vip) or [Endpoint(vip=vip)])

    def director(self, data: dict[str, Any] | None, path: str) -> Director | None:
        if data is None:
            return None
        vips = []
        for index, vip in enumerate(data.get("vips", [])):
            vips.append(self.vip(vip, f"{path}.vips[{index}]"))
        services = []
        seen: dict[ServiceKey, str] = {}
        for index, item in enumerate(data.get("services", [])):
            service_path = f"{path}.services[{index}]"
            service = self.service(item, service_path)
            if service is None:
                continue
            if service.key in seen:
                self.problem(service_path, f"duplicate of {seen[service.key]} ({service.key})")
                continue
            seen[service.key] = service_path
            services.append(service)
        return Director(
            owns_ipvs_table=data.get("owns_ipvs_table", False),
            drain_timeout=data.get("drain_timeout", 300),
            ip_forward=data.get("ip_forward", False),
            vips=tuple(vips),
            services=tuple(services),
            ha=parse_ha(data.get("ha"), f"{path}.ha", tuple(vips), self.problem),
        )

    def vip(self, data: dict[str, Any], path: str) -> Address:
        address = normalize_address(data["address"])
        family = family_of(address)
        limit = 32 if family == "ipv4" else 128
        prefix = data.get("prefix", limit)
        if prefix > limit:
            self.problem(f"{path}.prefix", f"{prefix} is too long for {family} address {address} (max {limit})")
        return Address(interface=data["interface"], address=address, prefix=prefix)

    def service(self, data: dict[str, Any], path: str) -> Service | None:
        if "fwmark" in data:
            key = ServiceKey.for_fwmark(data["fwmark"], data.get("family", "ipv4"))
        else:
            key = ServiceKey.for_address(data["protocol"], data["address"], data["port"])
            if "family" in data and data["family"] != key.family:
                self.problem(f"{path}.family", f"{data['family']} does not match address {key.address}")
        scheduler = data["scheduler"]
        flags = frozenset(data.get("flags", []))
        for flag in sorted(flags):
            owner = flag.split("-")[0]
            if owner != scheduler:
                self.problem(
                    f"{path}.flags",
                    f"scheduler flag {flag} only works with the {owner} scheduler (this service uses {scheduler})",
                )
        persistence = self.persistence(data.get("persistence"), key.family, f"{path}.persistence")
        if key.port == 0 and not key.fwmark and persistence is None:
            self.problem(f"{path}.port", "port 0 (all ports) needs persistence")
        real_servers = []
        seen: dict[tuple[str, int], str] = {}
        for index, item in enumerate(data.get("real_servers", [])):
            dest_path = f"{path}.real_servers[{index}]"
            dest = self.real_server(item, key, dest_path)
            if dest.key in seen:
                where = seen[dest.key]
                self.problem(
                    dest_path, f"duplicate real server {format_hostport(dest.address, dest.port)} (first at {where})"
                )
                continue
            seen[dest.key] = dest_path
            real_servers.append(dest)
        quorum = self.quorum(data.get("quorum"), key, seen, f"{path}.quorum")
        return Service(
            key=key,
            scheduler=scheduler,
            flags=flags,
            persistence=persistence,
            one_packet=data.get("one_packet", False),
            real_servers=tuple(real_servers),
            quorum=quorum,
        )

    def quorum(
        self, data: dict[str, Any] | None, service: ServiceKey, seen: dict[tuple[str, int], str], path: str
    ) -> Quorum | None:
        if data is None:
            return None
        sorry = self.real_server(data["sorry_server"], service, f"{path}.sorry_server")
        if sorry.health is not None:
            self.problem(f"{path}.sorry_server.health_check", "the sorry server is not health-checked; use null")
        if sorry.key in seen:
            self.problem(
                f"{path}.sorry_server",
                f"{format_hostport(sorry.address, sorry.port)} is already a real server of this service "
                f"({seen[sorry.key]}); the sorry server must be another one",
            )
        return Quorum(min_up=data["min_up"], sorry_server=sorry)

    def health_check(
        self, data: dict[str, Any] | None, service: ServiceKey, dest: RealServer, path: str
    ) -> HealthCheck | None:
        if data is None:
            return None
        kind = data["type"]
        port = data.get("port") or dest.port
        if not port:
            self.problem(f"{path}.port", "the real server has no port (firewall-mark service): name the port to check")
        for name in ("path", "host"):
            if any(character.isspace() for character in data.get(name, "")):
                self.problem(f"{path}.{name}", f"{name} must not contain spaces or line breaks")
        if kind not in ("http", "https"):
            for name, default in (("path", "/"), ("host", ""), ("body", "")):
                if data.get(name, default) != default:
                    self.problem(f"{path}.{name}", f"{name} applies only to http and https checks")
        payload, pattern = self.udp_exchange(data, kind, path)
        if kind != "dns":
            for name, default in (("query_name", "."), ("query_type", "SOA")):
                if data.get(name, default) != default:
                    self.problem(f"{path}.{name}", f"{name} applies only to dns checks")
        expect = tuple(data.get("expect", (200, 399)))
        if expect[0] > expect[1]:
            self.problem(f"{path}.expect", f"the lowest status {expect[0]} is above the highest {expect[1]}")
        interval, timeout = data.get("interval", 5), data.get("timeout", 3)
        if timeout > interval:
            self.problem(f"{path}.timeout", f"{timeout} s is longer than the interval ({interval} s)")
        tunnel = data.get("tunnel", False)
        if tunnel:
            if dest.forward != "tun":
                self.problem(f"{path}.tunnel", "a tunnel-path check needs a real server in forward tun")
            if service.fwmark or service.protocol != "tcp":
                self.problem(f"{path}.tunnel", "a tunnel-path check needs a TCP service (it sends a SYN to VIP:port)")
            elif family_of(dest.address) != service.family:
                self.problem(
                    f"{path}.tunnel",
                    "a tunnel-path check needs the real server in the VIP's address family (mixed families: "
                    "use the real server's own check)",
                )
        return HealthCheck(
            type=kind,
            port=port,
            path=data.get("path", "/"),
            host=data.get("host", ""),
            expect=expect,
            body=data.get("body", ""),
            interval=float(interval),
            timeout=float(timeout),
            rise=data.get("rise", 2),
            fall=data.get("fall", 3),
            on_failure=data.get("on_failure", "weight0"),
            tunnel=tunnel,
            payload=payload,
            reply_match=data.get("reply_match", "none"),
            reply_pattern=pattern,
            query_name=data.get("query_name", "."),
            query_type=data.get("query_type", "SOA"),
        )

    def udp_exchange(self, data: dict[str, Any], kind: str, path: str) -> tuple[bytes, bytes]:
        """A udp check's payload and reply pattern as bytes (hex digits decoded); problems named by field."""
        hexed, match = data.get("payload_hex", False), data.get("reply_match", "none")
        text, pattern = data.get("payload", ""), data.get("reply_pattern", "")
        if kind != "udp":
            udp_defaults = (("payload", ""), ("payload_hex", False), ("reply_match", "none"), ("reply_pattern", ""))
            for name, default in udp_defaults:
                if data.get(name, default) != default:
                    self.problem(f"{path}.{name}", f"{name} applies only to udp checks")
            return b"", b""
        payload = self.hex_or_text(text, hexed, f"{path}.payload")
        if match in ("none", "any"):
            if pattern:
                self.problem(f"{path}.reply_pattern", f"reply_match {match} takes no pattern; use an empty string")
            return payload, b""
        if not pattern:
            self.problem(f"{path}.reply_pattern", f"reply_match {match} needs a pattern")
        if match == "prefix":
            return payload, self.hex_or_text(pattern, hexed, f"{path}.reply_pattern")
        try:
            re.compile(pattern.encode())
        except re.error as exc:
            self.problem(f"{path}.reply_pattern", f"not a regular expression: {exc}")
        return payload, pattern.encode()

    def hex_or_text(self, text: str, hexed: bool, path: str) -> bytes:
        if not hexed:
            return text.encode()
        try:
            return bytes.fromhex(text)
        except ValueError:
            self.problem(path, "give hex digits in pairs (spaces allowed), e.g. 0a1b 2c3d")
            return b""

    def persistence(self, data: dict[str, Any] | None, family: str, path: str) -> Persistence | None:
        if data is None:
            return None
        netmask = data.get("netmask")
        if family == "ipv4":
            netmask = "255.255.255.255" if netmask is None else netmask
            if not isinstance(netmask, str) or not _valid_ipv4_netmask(netmask):
                self.problem(f"{path}.netmask", f"{_json(netmask)} is not a valid IPv4 netmask (e.g. 255.255.255.0)")
        else:
            netmask = 128 if netmask is None else netmask
            if isinstance(netmask, str) and netmask.isdigit():
                netmask = int(netmask)
            if not isinstance(netmask, int) or not 1 <= netmask <= 128:
                self.problem(f"{path}.netmask", f"{_json(netmask)} is not a valid IPv6 prefix length (1-128)")
        return Persistence(timeout=data["timeout"], netmask=str(netmask))

    def real_server(self, data: dict[str, Any], service: ServiceKey, path: str) -> RealServer:
        address = normalize_address(data["address"])
        forward = data["forward"]
        port = data["port"]
        if forward in ("tun", "dr") and not service.fwmark and port != service.port:
            self.problem(
                f"{path}.port",
                f"{port} differs from the service port {service.port}: the kernel cannot map ports in {forward} mode",
            )
        family = family_of(address)
        if family != service.family and forward != "tun":
            self.problem(
                f"{path}.address",
                f"{address} is {family.replace('ipv', 'IPv')} but the service is "
                f"{service.family.replace('ipv', 'IPv')} (mixed families only with forward tun)",
            )
        tunnel = self.tunnel(data.get("tunnel"), forward, f"{path}.tunnel")
        upper, lower = data.get("upper_threshold", 0), data.get("lower_threshold", 0)
        if upper and lower > upper:
            self.problem(f"{path}.lower_threshold", f"{lower} is above the upper threshold {upper}")
        dest = RealServer(
            address=address,
            port=port,
            weight=data.get("weight", 1),
            forward=forward,
            tunnel=tunnel,
            upper_threshold=upper,
            lower_threshold=lower,
        )
        if data.get("health_check") is not None:
            health = self.health_check(data["health_check"], service, dest, f"{path}.health_check")
            dest = replace(dest, health=health)
        return dest

    def tunnel(self, data: dict[str, Any] | None, forward: str, path: str) -> Tunnel | None:
        if forward != "tun":
            if data is not None:
                self.problem(path, f"a tunnel only applies to forward tun (this real server uses {forward})")
            return None
        if data is None:
            return _IPIP
        kind, port, checksum = data["type"], data.get("port"), data.get("checksum", "none")
        if kind == "ipip" and port is None and checksum == "none":
            return _IPIP
        if kind == "gue" and port is None:
            self.problem(f"{path}.port", "gue needs a tunnel port (the UDP port the real server decapsulates on)")
        if kind != "gue" and port is not None:
            self.problem(f"{path}.port", f"{kind} has no port; use null")
        if kind == "ipip" and checksum != "none":
            self.problem(f"{path}.checksum", "ipip has no checksum option; use none")
        if kind == "gre" and checksum == "remcsum":
            self.problem(f"{path}.checksum", "remote checksum offload (remcsum) exists only for gue")
        return Tunnel(type=kind, port=port or 0, checksum=checksum)
