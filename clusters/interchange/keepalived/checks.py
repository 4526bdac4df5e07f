"""keepalived's health checkers and their policy, as lvsweb health-check fields (clusters.models.HealthCheck).

keepalived checks each real server with its own checkers; lvsweb has one check per service and per-real-server
overrides. A real server's first mappable checker becomes its check (TCP_CHECK → tcp, HTTP_GET → http,
SSL_GET → https, SMTP_CHECK → tcp: a connect, without the SMTP greeting); the timing comes from the checker,
else its real server, else its virtual server, else keepalived's defaults:

| keepalived | lvsweb | default |
|---|---|---|
| delay_loop | interval | 60 s |
| connect_timeout | timeout (at most the interval) | 5 s |
| retry / nb_get_retry | fall = retry + 1 (the failed check and its retries) | 1 |
| (one success brings a server back) | rise = 1 | |
| inhibit_on_failure | on_failure weight0 (else remove) | off: remove |
| connect_port | port | the real server's |
| virtualhost | host_header | none |
| url { path, status_code } | path, expect_status_min/max | /, 200-299 |
| quorum, sorry_server | quorum, sorry_address/port/forward_method | 1 |

UDP_CHECK → udp (`payload` and `require_reply`, in hex), DNS_CHECK → dns (`type`, `name`).
What does not map (MISC_CHECK, PING_CHECK, FILE_CHECK, BFD_CHECK, digest, alpha,
hysteresis, …) is listed line by line with what to do instead (NOT_MAPPED, SETTINGS_NOT_MAPPED).
"""

from __future__ import annotations

from clusters.interchange.keepalived.reader import Node

CHECK_TYPES = {
    "TCP_CHECK": "tcp",
    "HTTP_GET": "http",
    "SSL_GET": "https",
    "SMTP_CHECK": "tcp",
    "UDP_CHECK": "udp",
    "DNS_CHECK": "dns",
}
#: Checkers lvsweb cannot run, with what to do instead.
NOT_MAPPED = {
    "MISC_CHECK": "lvsweb runs no scripts on the director; serve the script's verdict over HTTP on the real "
    "server (e.g. /healthz) and use an HTTP check",
    "PING_CHECK": "lvsweb has no ICMP check; use a TCP check of the service's port",
    "FILE_CHECK": "lvsweb reads no files on the director; drain or disable the real server from the console or API",
    "BFD_CHECK": "lvsweb has no BFD; use a TCP check of the service's port",
}
#: Check settings that have no lvsweb equivalent, with why (and what lvsweb does instead).
SETTINGS_NOT_MAPPED = {
    "digest": "lvsweb checks the status code, not an MD5 digest of the page; use body_match for a text the page "
    "must contain",
    "regex": "lvsweb matches plain text (body_match), not regular expressions",
    "regex_no_match": "lvsweb matches plain text (body_match), not regular expressions",
    "delay_before_retry": "lvsweb checks again at the interval (delay_loop), not sooner after a failure",
    "warmup": "lvsweb starts checking at once",
    "alpha": "lvsweb counts a real server as healthy until its check fails (keepalived's behaviour without alpha)",
    "connect_ip": "lvsweb checks the real server's own address",
    "bindto": "lvsweb checks from the director's own address",
    "bind_port": "lvsweb checks from any source port",
    "bind_if": "lvsweb checks through the director's routes",
    "fwmark": "lvsweb does not mark its check packets",
    "log_all_failures": "lvsweb logs every health transition",
    "http_protocol": "lvsweb speaks HTTP/1.1",
    "enable_sni": "lvsweb sends the Host header as TLS server name (SNI)",
    "fast_recovery": "lvsweb brings a server back after rise successes",
    "helo_name": "an SMTP_CHECK becomes a TCP connect check: no HELO is sent",
    "host": "an SMTP_CHECK becomes a TCP connect check of the real server",
    "password": "lvsweb does not verify certificates",
    "ca": "lvsweb does not verify certificates",
    "certificate": "lvsweb presents no client certificate",
    "key": "lvsweb presents no client certificate",
    "min_reply_length": "lvsweb's UDP check matches the reply's start (require_reply), not its length",
    "max_reply_length": "lvsweb's UDP check matches the reply's start (require_reply), not its length",
}
DEFAULT_DELAY = 60.0
DEFAULT_TIMEOUT = 5.0
DEFAULT_RETRY = 1
MAX_INTERVAL = 3600.0
MAX_FALL = 100
TIMING = ("delay_loop", "connect_timeout", "retry", "nb_get_retry", "inhibit_on_failure", "virtualhost")


class CheckReader:
    """Reads the checkers of one real server; `skip(node, reason)` and `warn(line, text)` report to the parser."""

    def __init__(self, skip, warn, error):
        self.skip = skip
        self.warn = warn
        self.error = error

    def seconds(self, node: Node) -> float | None:
        """A keepalived timer value (seconds, fractions allowed), or None with an error."""
        text = node.args[0] if node.args else ""
        try:
            value = float(text)
        except ValueError:
            value = -1
        if not text or value < 0 or value != value:
            self.error(node.line, f"{node.keyword} “{text}” is not a number of seconds (keepalived ignores it)")
            return None
        return value

    def count(self, node: Node) -> int | None:
        text = node.args[0] if node.args else ""
        if not (text.isascii() and text.isdigit()):
            self.error(node.line, f"{node.keyword} “{text}” is not a number (keepalived ignores it)")
            return None
        return int(text)

    def settings(self, node: Node, settings: dict, where: str) -> bool:
        """Read a timing/policy keyword of a virtual server, real server or checker into `settings`."""
        word = node.keyword
        if word in ("delay_loop", "connect_timeout"):
            value = self.seconds(node)
            if value is not None:
                settings[word] = value
        elif word in ("retry", "nb_get_retry"):
            value = self.count(node)
            if value is not None:
                settings["retry"] = value
        elif word == "inhibit_on_failure":
            settings["inhibit"] = (node.args or ["true"])[0].lower() not in ("false", "no", "off", "0")
        elif word == "delay_before_retry":
            settings["retry_node"] = (node, where)  # mapped when it equals the interval (see timing)
        elif word == "virtualhost":
            if node.args:
                settings["virtualhost"] = node.args[0]
        elif word in SETTINGS_NOT_MAPPED:
            self.skip(node, SETTINGS_NOT_MAPPED[word], where)
        else:
            return False
        return True

    def checker(self, node: Node, inherited: dict, where: str) -> dict | None:
        """The lvsweb check fields of one checker block, or None when it does not map (listed)."""
        if node.keyword in NOT_MAPPED:
            self.skip(node, NOT_MAPPED[node.keyword], where)
            return None
        settings = dict(inherited)
        check_type = CHECK_TYPES[node.keyword]
        fields: dict = {"check_type": check_type}
        urls: list[Node] = []
        inside = f" (in {node.keyword}{where})"
        for child in node.children or []:
            if self.settings(child, settings, inside):
                continue
            if child.keyword == "connect_port":
                value = self.count(child)
                if value is not None and 1 <= value <= 65535:
                    fields["port"] = value
            elif child.keyword == "url" and check_type in ("http", "https"):
                urls.append(child)
            elif check_type == "udp" and child.keyword in ("payload", "require_reply"):
                self.datagram(child, fields)
            elif check_type == "dns" and child.keyword in ("type", "name") and child.args:
                fields["query_type" if child.keyword == "type" else "query_name"] = (
                    child.args[0].upper() if child.keyword == "type" else child.args[0]
                )
            else:
                self.skip(child, "lvsweb has no equivalent", inside)
        if node.keyword == "SMTP_CHECK":
            self.warn(node.line, "SMTP_CHECK imported as a TCP connect check: lvsweb does not speak SMTP")
        if check_type in ("http", "https"):
            fields.update(self.url(urls, inside))
            if settings.get("virtualhost"):
                fields["host_header"] = settings["virtualhost"]
        return self.timing(fields, settings, node.line)

    def datagram(self, node: Node, fields: dict) -> None:
        """UDP_CHECK's `payload HEX` and `require_reply [HEX]` (keepalived writes both in hex)."""
        fields["payload_hex"] = True
        if node.keyword == "payload":
            fields["payload"] = node.args[0] if node.args else ""
        elif node.args:
            fields["reply_match"], fields["reply_pattern"] = "prefix", node.args[0]
        else:
            fields["reply_match"] = "any"

    def url(self, urls: list[Node], where: str) -> dict:
        fields = {"path": "/", "expect_status_min": 200, "expect_status_max": 299}
        for extra in urls[1:]:
            self.skip(extra, "lvsweb GETs one path per check: the first url is imported", where)
        if not urls:
            return fields
        for child in urls[0].children or []:
            if child.keyword == "path" and child.args:
                fields["path"] = child.args[0]
            elif child.keyword == "status_code" and child.args:
                low, high = self.status(child)
                if low is not None:
                    fields["expect_status_min"], fields["expect_status_max"] = low, high
            elif child.keyword == "virtualhost" and child.args:
                fields["host_header"] = child.args[0]
            else:
                reason = SETTINGS_NOT_MAPPED.get(child.keyword, "lvsweb has no equivalent")
                self.skip(child, reason, " (in url)")
        return fields

    def status(self, node: Node) -> tuple[int | None, int | None]:
        """`status_code 200` or `status_code 200-299`; several codes or ranges are refused (listed)."""
        if len(node.args) == 1:
            low, _, high = node.args[0].partition("-")
            high = high or low
            if low.isdigit() and high.isdigit() and 100 <= int(low) <= int(high) <= 599:
                return int(low), int(high)
        self.skip(node, "lvsweb accepts one status or one range (e.g. 200-299); the default 200-299 is used", "")
        return None, None

    def timing(self, fields: dict, settings: dict, line: int) -> dict:
        interval = settings.get("delay_loop", DEFAULT_DELAY)
        if not 0.1 <= interval <= MAX_INTERVAL:
            clamped = min(max(interval, 0.1), MAX_INTERVAL)
            self.warn(line, f"delay_loop {interval:g} s is outside lvsweb's 0.1-3600 s: {clamped:g} s imported")
            interval = clamped
        if "retry_node" in settings:
            node, where = settings["retry_node"]
            try:
                same = float(node.args[0]) == interval
            except (IndexError, ValueError):
                same = False
            if not same:
                self.skip(node, SETTINGS_NOT_MAPPED["delay_before_retry"], where)
        timeout = settings.get("connect_timeout", DEFAULT_TIMEOUT)
        if timeout > interval:
            self.warn(
                line,
                f"connect_timeout {timeout:g} s is longer than delay_loop {interval:g} s: lvsweb's timeout is at "
                f"most the interval, {interval:g} s imported",
            )
            timeout = interval
        timeout = max(timeout, 0.1)
        fall = settings.get("retry", DEFAULT_RETRY) + 1
        if fall > MAX_FALL:
            self.warn(line, f"retry {fall - 1} is more than lvsweb's {MAX_FALL - 1}: fall {MAX_FALL} imported")
            fall = MAX_FALL
        fields.update(
            interval=interval,
            timeout=timeout,
            rise=1,
            fall=fall,
            on_failure="weight0" if settings.get("inhibit") else "remove",
        )
        return fields


def frozen(fields: dict | None):
    """A check's fields as a hashable value, to find the check most real servers share."""
    return None if fields is None else tuple(sorted(fields.items()))
