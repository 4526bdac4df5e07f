"""The console's import and export pages: preview, errors by line that keep the text, commit, downloads."""

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from audit.models import AuditEntry
from clusters.models import RealServer, VirtualService
from teams.choices import TeamRole
from tests.factories import (
    make_cluster,
    make_real_server,
    make_team,
    make_virtual_service,
)
from tests.interchange.helpers import sample, signed_in

LAB = sample("lab-ipvsadm-save.txt")
KEEPALIVED = sample("keepalived.conf")

pytestmark = pytest.mark.django_db


def url(cluster, name="cluster-import"):
    return reverse(name, kwargs={"slug": cluster.slug})


def previewed(response) -> str:
    field = re.search(r'<input type="hidden" name="previewed"[^>]*>', response.content.decode()).group(0)
    value = re.search(r'value="([0-9a-f]*)"', field)
    return value.group(1) if value else ""


def test_the_import_page_offers_paste_upload_and_format(operator, cluster):
    response = operator.get(url(cluster))
    assert response.status_code == 200
    page = response.content.decode()
    assert "Import rules into web frontend" in page
    for label in ('for="id_text">Rules', 'for="id_file">…or upload a file', 'for="id_format">Format'):
        assert label in page
    assert "> Update existing services</label>" in page
    assert 'enctype="multipart/form-data"' in page
    assert "Commit import" not in page


def test_a_viewer_is_refused_with_the_reason(cluster):
    response = signed_in(TeamRole.VIEWER).get(url(cluster))
    assert response.status_code == 403
    assert "you need the operator or owner role" in response.content.decode()


def test_preview_shows_the_plan_and_saves_nothing(operator, cluster):
    response = operator.post(url(cluster), {"text": LAB, "format": "auto", "action": "preview"})
    assert response.status_code == 200
    page = response.content.decode()
    assert "Preview" in page and "(ipvsadm format)" in page
    assert page.count('<span class="badge added">create</span>') == 16
    assert "TCP 10.10.0.100:80" in page and "real server 10.20.0.13:80" in page
    assert 'value="commit"' in page and previewed(response)
    assert not VirtualService.objects.filter(cluster=cluster).exists()


def test_errors_are_listed_by_line_and_the_text_is_kept(operator, cluster):
    text = "-A -t 10.0.0.1:80 -s rr\n-a -t 10.0.0.1:80 -r 10.1.0.1:8080 -i\n-A -t 10.0.0.2:80 -s quick\n"
    response = operator.post(url(cluster), {"text": text, "format": "ipvsadm", "action": "preview"})
    assert response.status_code == 400
    page = response.content.decode()
    assert "2 errors: nothing can be imported until they are corrected." in page
    assert 'data-line="3">Line 3</a>: unknown scheduler “quick”' in page
    assert "-A -t 10.0.0.2:80 -s quick" in page  # the textarea keeps what was pasted
    assert 'value="commit"' not in page
    assert previewed(response) == ""


def test_commit_creates_the_rows_with_one_audited_change(operator, cluster):
    data = {"text": LAB, "format": "auto", "action": "preview"}
    digest = previewed(operator.post(url(cluster), data))
    response = operator.post(url(cluster), {**data, "action": "commit", "previewed": digest}, follow=True)
    assert response.redirect_chain == [(cluster.get_absolute_url(), 302)]
    assert "Imported into web frontend: 8 services created" in response.content.decode()
    assert VirtualService.objects.filter(cluster=cluster).count() == 8
    assert RealServer.objects.filter(virtual_service__cluster=cluster).count() == 8
    assert AuditEntry.objects.filter(action="cluster.import", cluster_id=cluster.pk).count() == 1


def test_a_commit_of_text_that_changed_since_the_preview_shows_a_new_preview(operator, cluster):
    data = {"text": LAB, "format": "auto", "action": "preview"}
    digest = previewed(operator.post(url(cluster), data))
    edited = LAB.replace("-s rr", "-s wrr")
    response = operator.post(url(cluster), {**data, "text": edited, "action": "commit", "previewed": digest})
    assert response.status_code == 200
    assert "changed since the preview" in response.content.decode()
    assert not VirtualService.objects.filter(cluster=cluster).exists()


def test_commit_checks_again_and_refuses_what_became_a_conflict(operator, cluster):
    data = {"text": LAB, "format": "auto", "action": "preview"}
    digest = previewed(operator.post(url(cluster), data))
    make_virtual_service(cluster=cluster, address="10.10.0.100", port=80, scheduler="wlc")  # meanwhile
    response = operator.post(url(cluster), {**data, "action": "commit", "previewed": digest})
    assert response.status_code == 400
    page = response.content.decode()
    assert "Nothing was imported" in page
    assert "TCP 10.10.0.100:80 is already in this cluster with other settings (scheduler: wlc → rr)" in page
    assert VirtualService.objects.filter(cluster=cluster).count() == 1
    assert "-A -t 10.10.0.101:443 -s wlc -p 60 -M 255.255.255.0" in page


def test_update_existing_changes_a_service(operator, cluster):
    service = make_virtual_service(cluster=cluster, address="10.10.0.200", port=80, scheduler="wlc")
    make_real_server(virtual_service=service, address="10.20.0.99")
    data = {"text": "-A -t 10.10.0.200:80 -s rr\n", "format": "auto", "update_existing": "on", "action": "preview"}
    response = operator.post(url(cluster), data)
    assert '<span class="badge changed">change</span>' in response.content.decode()
    operator.post(url(cluster), {**data, "action": "commit", "previewed": previewed(response)})
    service.refresh_from_db()
    assert service.scheduler == "rr" and service.real_servers.count() == 1  # an import never deletes


def test_an_uploaded_file_is_previewed_and_shown_in_the_text_box(operator, cluster):
    upload = SimpleUploadedFile("keepalived.conf", KEEPALIVED.encode(), content_type="text/plain")
    response = operator.post(url(cluster), {"file": upload, "format": "auto", "action": "preview"})
    assert response.status_code == 200
    page = response.content.decode()
    assert "(keepalived format)" in page
    assert 'data-line="50">Line 50</a>: notify_down /usr/local/bin/page-oncall rs-down (in real_server' in page
    assert "router_id lvs-fra-1" in page  # the file's text is in the text box for the commit


def test_a_previewed_file_commits_from_the_text_box_whose_lines_the_browser_ends_in_crlf(operator, cluster):
    upload = SimpleUploadedFile("ipvsadm.rules", LAB.encode(), content_type="text/plain")
    digest = previewed(operator.post(url(cluster), {"file": upload, "format": "auto", "action": "preview"}))
    data = {"text": LAB.replace("\n", "\r\n"), "format": "auto", "action": "commit", "previewed": digest}
    response = operator.post(url(cluster), data)
    assert response.status_code == 302
    assert VirtualService.objects.filter(cluster=cluster).count() == 8


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        (
            {"text": "   "},
            "text",
            "Paste ipvsadm-save text or keepalived.conf virtual_server blocks, or upload a file.",
        ),
        ({"text": LAB, "format": "yaml"}, "format", "Select a valid choice. yaml is not one of the available choices."),
        ({"file": SimpleUploadedFile("rules", b"\xff\xfe-A")}, "file", "The file is not UTF-8 text."),
    ],
)
def test_bad_input_is_shown_at_its_field(operator, cluster, data, field, message):
    response = operator.post(url(cluster), {"format": "auto", "action": "preview", **data})
    assert response.status_code == 400
    assert response.context["form"].errors[field] == [message]
    assert message.replace("“", "&ldquo;") in response.content.decode() or message in response.content.decode()


def test_the_export_page_shows_both_formats_to_a_viewer(cluster):
    service = make_virtual_service(cluster=cluster, address="10.10.0.1", port=443, scheduler="wrr")
    make_real_server(virtual_service=service, address="10.20.0.1", weight=7)
    response = signed_in(TeamRole.VIEWER).get(url(cluster, "cluster-export"))
    assert response.status_code == 200
    page = response.content.decode()
    assert "-A -t 10.10.0.1:443 -s wrr\n-a -t 10.10.0.1:443 -r 10.20.0.1:443 -i -w 7 --tun-type ipip" in page
    assert "virtual_server 10.10.0.1 443 {" in page
    assert 'href="?format=keepalived" download="web-keepalived.conf"' in page


@pytest.mark.parametrize(
    ("format", "filename", "first_line"),
    [("ipvsadm", "web-ipvsadm.rules", "-A -t 10.10.0.1:443 -s wrr"), ("keepalived", "web-keepalived.conf", "# ")],
)
def test_downloads_are_attachments_with_a_file_name(operator, cluster, format, filename, first_line):
    make_virtual_service(cluster=cluster, address="10.10.0.1", port=443, scheduler="wrr")
    response = operator.get(url(cluster, "cluster-export"), {"format": format})
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response["Content-Disposition"] == f'attachment; filename="{filename}"'
    assert response.content.decode().startswith(first_line)


def test_disabled_and_draining_real_servers_are_exported_as_the_director_holds_them(operator, cluster):
    service = make_virtual_service(cluster=cluster, address="10.10.0.1", port=80, scheduler="rr")
    make_real_server(virtual_service=service, address="10.20.0.1", weight=5, state="draining")
    make_real_server(virtual_service=service, address="10.20.0.2", weight=5, state="disabled")
    make_virtual_service(cluster=cluster, address="10.10.0.2", port=80, enabled=False)
    text = operator.get(url(cluster, "cluster-export"), {"format": "ipvsadm"}).content.decode()
    assert text == "-A -t 10.10.0.1:80 -s rr\n-a -t 10.10.0.1:80 -r 10.20.0.1:80 -i -w 0 --tun-type ipip\n"


def test_another_teams_cluster_is_not_there(operator):
    other = make_cluster(team=make_team())
    assert operator.get(url(other)).status_code == 404
    assert operator.post(url(other), {"text": LAB, "action": "commit"}).status_code == 404
    assert operator.get(url(other, "cluster-export"), {"format": "ipvsadm"}).status_code == 404
    assert not VirtualService.objects.filter(cluster=other).exists()
