"""`lvsweb-agent enroll`: its errors when there is no console to talk to, and TLS verification."""

from __future__ import annotations

import datetime
import ipaddress
import json
import socket
import ssl
import threading
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from agents.host.cli import main
from agents.host.enroll import EnrollError, enroll

pytestmark = pytest.mark.timeout(90)

REPO = Path(__file__).resolve().parents[2]


def enroll_cli(*args: str) -> int:
    return main(["enroll", *args])


def one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]


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
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "lvsweb test console")])
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256())
        )
        self.ca_file = tmp_path / "ca.pem"
        self.ca_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_file = tmp_path / "tls-key.pem"
        pem = serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        key_file.write_bytes(key.private_bytes(*pem))
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
                    tls.recv(65536)
                    body = json.dumps({"detail": "Not found."}).encode()
                    head = f"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: {len(body)}"
                    tls.sendall(head.encode() + b"\r\nConnection: close\r\n\r\n" + body)
            except (ssl.SSLError, OSError):
                connection.close()  # the client refused our certificate

    def close(self) -> None:
        self.listener.close()


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
