"""What is wrong with the addresses an enrollment hands out, in the operator's words.

The enrollment command carries the console's URL as the browser reached it, and the agent then gets
AGENT_BROKER_URL. On a console run with its defaults both are loopback (`http://127.0.0.1:8000`,
`redis://127.0.0.1:6379/0`): a host elsewhere copies the command and fails later, far from the cause.
Pure: no settings, no request — the caller passes the two URLs, so that the page and the API say the same.
"""

from ipaddress import ip_address
from urllib.parse import urlsplit

LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}


def is_loopback_host(hostname: str | None) -> bool:
    """Whether a URL's host name is this machine's loopback (127.0.0.0/8, ::1, localhost, *.localhost)."""
    if not hostname:
        return False
    name = hostname.strip("[]").rstrip(".").lower()
    if name in LOCAL_NAMES or name.endswith(".localhost"):
        return True
    try:
        address = ip_address(name.split("%", 1)[0])
    except ValueError:
        return False
    # ::ffff:127.0.0.1 is the IPv4 loopback written as IPv6.
    mapped = getattr(address, "ipv4_mapped", None)
    return address.is_loopback or bool(mapped and mapped.is_loopback)


def _hostname(url: str) -> str | None:
    try:
        return urlsplit(url).hostname
    except ValueError:
        return None


def enrollment_warnings(server_url: str, broker_url: str) -> list[str]:
    """Warnings about the console URL shown in the enrollment command and the broker URL the agent gets.

    `server_url` is the console's address as the command shows it, `broker_url` is AGENT_BROKER_URL
    (without the agent's own credentials, which do not change the host). An empty list means nothing to say.
    """
    warnings: list[str] = []
    server = urlsplit(server_url)
    if is_loopback_host(_hostname(server_url)):
        warnings.append(
            f"The agent will reach the console at {server_url}, which is this machine's loopback: a host "
            "elsewhere cannot reach it. Open the console by its network name (one listed in ALLOWED_HOSTS) "
            "and create the token from there, or edit --server in the command."
        )
    if server.scheme == "http":
        warnings.append(
            f"The console's address {server_url} is plain http: the enrollment token travels unencrypted. "
            "Put the console behind TLS (LVSWEB_TLS=1) and open it by https."
        )
    if is_loopback_host(_hostname(broker_url)):
        warnings.append(
            "The agent will be told to reach the broker at this machine's loopback "
            f"({_display_broker(broker_url)}): set AGENT_BROKER_URL to the address hosts reach Redis at "
            "(rediss:// across networks)."
        )
    return warnings


def _display_broker(broker_url: str) -> str:
    """The broker URL without any password in it (it is shown on a page and in an API answer)."""
    try:
        parts = urlsplit(broker_url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "an unreadable URL"
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{port}" if port else host
    return parts._replace(netloc=netloc).geturl()
