"""`lvsweb-agent enroll` against the console's real endpoint (pytest-django's live server), and its errors.

The last test goes on from enrollment to `lvsweb-agent run`: the agent's first heartbeat, read from the real
Redis, is accepted by the console's own report handler with the key enrollment stored.
"""

from __future__ import annotations

import datetime
import json
import os
import socket
import ssl
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from lvsweb_agent.cli import main
from lvsweb_agent.config import load_config
from lvsweb_agent.enroll import EnrollError, enroll
from lvsweb_agent.envelope import load_private_key_pem, public_key_text

from tests.certificates import self_signed

from .redisdb import claimed_redis_db

pytestmark = pytest.mark.timeout(90)

REPO = Path(__file__).resolve().parents[2]


def enroll_cli(*args: str) -> int:
    return main(["enroll", *args])


def one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]


# -- against the console -------------------------------------------------------------------------------------
@pytest.fixture
def console_host(transactional_db):
    """A host in the console's inventory and a fresh enrollment token for it."""
    from dispatch.actions import create_enrollment_token
    from tests.factories import make_host

    host = make_host(hostname="rs7")
    _, secret = create_enrollment_token(acting_user=None, host=host)
    return host, secret


def test_enroll_writes_a_private_configuration_the_console_agrees_with(live_server, console_host, tmp_path, capsys):
    from django.conf import settings

    from dispatch.signing import control_public_key_text

    host, token = console_host
    path = tmp_path / "etc" / "agent.json"
    code = enroll_cli("--server", live_server.url, "--token", token, "--config", str(path), "--root", "srv/agent")
    out, err = capsys.readouterr()
    assert code == 0, err
    config = load_config(path)  # refuses anything but 0600
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    key_file = Path(config.private_key_file)
    assert key_file == tmp_path / "etc" / "host-key.pem"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert (config.host, config.queue, config.heartbeat_interval) == ("rs7", "lvsweb.host.rs7", 10)
    # AGENT_BROKER_URL with the host's own Redis user (tests/dispatch/test_broker_acl.py).
    assert config.broker_url.startswith(f"redis://{settings.BROKER_USER_PREFIX}rs7:")
    assert config.broker_url.endswith("@" + settings.AGENT_BROKER_URL.removeprefix("redis://"))
    assert config.control_public_key == control_public_key_text()
    assert config.root == os.path.abspath("srv/agent") and config.server == live_server.url
    assert one_line(out) == (
        f"enrolled as rs7: configuration written to {path}, key in {key_file}; start the agent with `lvsweb-agent run`"
    )
    host.refresh_from_db()
    assert host.public_key == public_key_text(load_private_key_pem(key_file.read_bytes()))
    assert host.kernel_version == os.uname().release
    assert {"agent_version", "kernel", "check"} <= set(host.facts)
    assert "ip_vs" in host.facts["check"]


def test_a_used_token_is_refused_in_one_line_and_the_first_stands(live_server, console_host, tmp_path, capsys):
    _, token = console_host
    path = tmp_path / "agent.json"
    assert enroll_cli("--server", live_server.url, "--token", token, "--config", str(path)) == 0
    first_config, first_key = path.read_bytes(), (tmp_path / "host-key.pem").read_bytes()
    capsys.readouterr()
    assert enroll_cli("--server", live_server.url, "--token", token, "--config", str(path)) == 1
    assert one_line(capsys.readouterr().err) == (
        "lvsweb-agent enroll: the console refused the enrollment (400): token: This enrollment token is unknown, "
        "used or expired; create a new one in the console."
    )
    assert path.read_bytes() == first_config and (tmp_path / "host-key.pem").read_bytes() == first_key


def test_an_unknown_token_writes_nothing(live_server, transactional_db, tmp_path, capsys):
    code = enroll_cli("--server", live_server.url, "--token", "lvse_guessed", "--config", str(tmp_path / "a.json"))
    assert code == 1
    assert "(400): token: This enrollment token is unknown" in one_line(capsys.readouterr().err)
    assert list(tmp_path.iterdir()) == []


def test_a_server_url_that_is_not_the_console_says_so(live_server, transactional_db, tmp_path, capsys):
    code = enroll_cli("--server", f"{live_server.url}/not-here", "--token", "t", "--config", str(tmp_path / "a.json"))
    assert code == 1
    assert one_line(capsys.readouterr().err).startswith("lvsweb-agent enroll: the console refused the enrollment (404)")
    assert list(tmp_path.iterdir()) == []


# -- without a console ---------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_console_that_cannot_be_reached_is_named_with_the_reason(tmp_path, capsys):
    port = free_port()
    code = enroll_cli("--server", f"http://127.0.0.1:{port}", "--token", "t", "--config", str(tmp_path / "a.json"))
    assert code == 1
    assert one_line(capsys.readouterr().err) == (
        f"lvsweb-agent enroll: cannot reach http://127.0.0.1:{port}/api/agent/enroll/: [Errno 111] Connection refused"
    )
    assert list(tmp_path.iterdir()) == []


def test_the_server_must_be_an_http_url(tmp_path):
    with pytest.raises(EnrollError, match="--server must be the console's http:// or https:// URL"):
        enroll(server="console.example", token="t", config=tmp_path / "a.json")


class TLSServer:
    """An HTTPS server on 127.0.0.1 with a self-signed certificate, answering every request with a JSON 404."""

    def __init__(self, tmp_path: Path):
        made = self_signed(valid_for=datetime.timedelta(hours=1))
        self.ca_file = tmp_path / "ca.pem"
        self.ca_file.write_bytes(made.certificate)
        key_file = tmp_path / "tls-key.pem"
        key_file.write_bytes(made.key)
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(self.ca_file, key_file)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"https://127.0.0.1:{self.listener.getsockname()[1]}"
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            try:
                with self.context.wrap_socket(connection, server_side=True) as tls:
                    _read_request(tls)
                    body = json.dumps({"detail": "Not found."}).encode()
                    head = f"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: {len(body)}"
                    tls.sendall(head.encode() + b"\r\nConnection: close\r\n\r\n" + body)
            except (ssl.SSLError, OSError):
                connection.close()  # the client refused our certificate

    def close(self) -> None:
        self.listener.close()


def _read_request(tls) -> bytes:
    """The whole request (headers and body): answering before it is read makes the client see a reset."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = tls.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = tls.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


@pytest.fixture
def tls_server(tmp_path):
    server = TLSServer(tmp_path)
    yield server
    server.close()


def test_tls_is_verified_by_default_and_a_ca_file_makes_the_console_trusted(tls_server, tmp_path, capsys):
    config = str(tmp_path / "etc" / "agent.json")
    assert enroll_cli("--server", tls_server.url, "--token", "t", "--config", config) == 1
    err = one_line(capsys.readouterr().err)
    assert err.startswith(f"lvsweb-agent enroll: cannot reach {tls_server.url}/api/agent/enroll/: ")
    assert "CERTIFICATE_VERIFY_FAILED" in err
    ca_file = str(tls_server.ca_file)
    code = enroll_cli("--server", tls_server.url, "--token", "t", "--config", config, "--ca-file", ca_file)
    assert code == 1
    assert one_line(capsys.readouterr().err) == (
        "lvsweb-agent enroll: the console refused the enrollment (404): Not found."
    )
    assert not (tmp_path / "etc").exists()


def test_a_missing_ca_file_is_named(tmp_path, capsys):
    missing = tmp_path / "nope.pem"
    code = enroll_cli("--server", "https://127.0.0.1:1", "--token", "t", "--config", str(tmp_path / "a.json"),
                      "--ca-file", str(missing))  # fmt: skip
    assert code == 1
    assert one_line(capsys.readouterr().err) == f"lvsweb-agent enroll: --ca-file {missing}: no such file"


# -- from enrollment to a heartbeat the console accepts --------------------------------------------------------
@pytest.fixture
def agent_broker_url(settings):
    """The console tells agents a Redis database of their own."""
    with claimed_redis_db() as url:
        settings.AGENT_BROKER_URL = url
        yield url


def test_an_enrolled_agent_runs_and_the_console_accepts_its_heartbeat(
    live_server, console_host, agent_broker_url, tmp_path
):
    from kombu import Connection

    from dispatch.actions import handle_report

    host, token = console_host
    path = tmp_path / "agent.json"
    code = enroll_cli("--server", live_server.url, "--token", token, "--config", str(path), "--root", str(tmp_path))
    assert code == 0
    with Connection(agent_broker_url) as connection:
        control = connection.SimpleQueue("control")
        env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO", "LVSWEB_AGENT"))}
        with (tmp_path / "agent.log").open("wb") as log:
            agent = subprocess.Popen(
                [sys.executable, "-m", "lvsweb_agent.cli", "run", "--config", str(path)],
                cwd=REPO,
                env=env,
                stdout=log,
                stderr=log,
            )
        try:
            message = control.get(timeout=30)
            message.ack()
            (envelope,), _, _ = message.decode()
        finally:
            agent.terminate()
            agent.wait(timeout=15)
            control.close()
    assert envelope["signer"] == "rs7"
    started = time.time()
    assert handle_report(envelope) == "heartbeat"
    host.refresh_from_db()
    assert host.agent_status == "online"
    assert host.last_heartbeat_at.timestamp() >= started - 1
    assert host.facts["kernel"] == os.uname().release
