"""The enrollment page: install, a one-time token shown once with the exact command (which really enrolls), and
revocation after a confirmation."""

import html
import re
from urllib.parse import urlparse

import pytest
from lvsweb_agent.cli import main as agent_cli

from audit.models import AuditEntry
from clusters.models import Host
from dispatch.models import EnrollmentToken
from tests.factories import make_host

pytestmark = pytest.mark.django_db(transaction=True)
COMMAND = re.compile(r'<code id="enroll-command">(lvsweb-agent enroll [^<]+)</code>')


def test_the_page_explains_install_and_offers_a_token(lab, operator):
    host = make_host(hostname="web9")
    body = operator.get(f"/hosts/{host.pk}/enroll/").content.decode()
    assert "<h1>Enroll web9</h1>" in body
    # Install: how to build the agent bundle when the console has none (test_agent_download.py: the lines with one).
    assert "<code>manage.py build_agent_bundle</code>" in body and "--find-links" not in body
    assert "systemctl daemon-reload &amp;&amp; systemctl enable --now lvsweb-agent" in body
    assert "Create a one-time token" in body and "valid 60 minutes" in body
    assert "lvse_" not in body
    assert not EnrollmentToken.objects.exists()  # looking issues nothing


def test_the_token_is_shown_once_and_the_exact_command_enrolls_the_host(lab, operator, live_server, tmp_path, capsys):
    host = make_host(hostname="web9")
    server = urlparse(live_server.url)
    response = operator.post(f"/hosts/{host.pk}/enroll/", HTTP_HOST=server.netloc)
    body = response.content.decode()
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    [command] = COMMAND.findall(body)
    command = html.unescape(command)
    assert command.startswith(f"lvsweb-agent enroll --server {live_server.url} --token lvse_")
    secret = command.rsplit(" ", 1)[1]
    assert EnrollmentToken.objects.get(host=host).token_hash != secret  # stored hashed
    assert AuditEntry.objects.filter(action="host.enrollment_token", object_repr="web9").exists()

    # On the host: exactly that command (plus where this test keeps the agent's files).
    argv = [*command.split()[1:], "--config", str(tmp_path / "agent.json"), "--root", str(tmp_path)]
    assert agent_cli(argv) == 0, capsys.readouterr().err
    host.refresh_from_db()
    assert host.public_key and host.enrolled_at is not None

    again = operator.get(f"/hosts/{host.pk}/enroll/").content.decode()
    assert secret not in again and "lvse_" not in again
    assert "Enrolling again replaces the agent's key." in again


def test_a_viewer_may_not_enroll(lab, viewer):
    assert viewer.get(f"/hosts/{lab.rs1.pk}/enroll/").status_code == 403
    assert viewer.post(f"/hosts/{lab.rs1.pk}/enroll/").status_code == 403
    assert not EnrollmentToken.objects.exists()


def test_revoke_asks_first_then_refuses_the_agent(lab, operator):
    confirm = operator.get(f"/hosts/{lab.rs1.pk}/revoke/").content.decode()
    assert "Revoke the agent of “rs1”?" in confirm and "its reports and heartbeats are refused" in confirm
    assert Host.objects.get(pk=lab.rs1.pk).revoked_at is None  # looking changed nothing

    response = operator.post(f"/hosts/{lab.rs1.pk}/revoke/", follow=True)
    assert response.redirect_chain[-1][0] == f"/hosts/{lab.rs1.pk}/"
    body = response.content.decode()
    assert "rs1&#x27;s agent is revoked: its reports are refused from now on." in body
    assert '<span class="badge revoked" data-host-state="rs1">revoked</span>' in body
    lab.rs1.refresh_from_db()
    assert lab.rs1.revoked_at is not None and lab.rs1.public_key == ""
    assert AuditEntry.objects.filter(action="host.revoke", object_repr="rs1").count() == 1

    twice = operator.post(f"/hosts/{lab.rs1.pk}/revoke/", follow=True)
    assert "rs1 is already revoked." in twice.content.decode()
