"""Hostile imports: a million braces or bad lines answer a small, quick 400, never a huge or slow one.

Before the caps, 1,000,000 “{” (keepalived) took 25 s and answered 148 MB of errors.
"""

import time

import pytest
from django.urls import reverse

from clusters import interchange
from clusters.interchange import keepalived, ruleset
from clusters.models import VirtualService

BRACES = "{" * 1_000_000
CLOSING_LINES = "}\n" * 600_000  # 1.8 MB as JSON: under the request size limit (2.5 MB)
BAD_LINES = "-X nonsense\n" * 150_000  # keepalived: 150,000 keywords not imported


def test_braces_nested_deeper_than_any_keepalived_conf_stop_the_reader_with_one_error():
    result = interchange.parse("virtual_server 10.0.0.1 80 {" + "x {" * 100, "keepalived")
    assert [str(problem) for problem in result.errors] == [
        f"line 1: blocks are nested more than {keepalived.MAX_DEPTH} deep here"
    ]
    assert not result.services


def test_the_first_errors_are_listed_and_the_rest_counted():
    result = interchange.parse(CLOSING_LINES, "keepalived")
    assert len(result.errors) == ruleset.MAX_LISTED
    assert result.errors.total == 600_000 and result.errors.omitted == 600_000 - ruleset.MAX_LISTED
    assert [problem.line for problem in result.errors[:3]] == [1, 2, 3]


def test_a_message_quoting_a_huge_word_is_cut():
    result = interchange.parse(BRACES, "ipvsadm")
    (problem,) = result.errors
    assert problem.message.startswith("expected -A or -a (ipvsadm-save lines), got “{{{")
    assert len(problem.message) == ruleset.MAX_MESSAGE and problem.message.endswith("…")


@pytest.mark.parametrize("format", ["ipvsadm", "keepalived"])
def test_a_parser_gives_up_after_its_time_limit(format):
    text = "virtual_server 10.0.0.1 80 {\n" + "lb_algo rr\n" * 50_000 + "}\n"
    with pytest.raises(interchange.TooSlow, match=r"took too long to read \(more than 0 s\); split it"):
        interchange.parse(text, format, seconds=0)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("text", "format"),
    [(BRACES, "keepalived"), (BRACES, "auto"), (CLOSING_LINES, "ipvsadm"), (BAD_LINES, "keepalived")],
    ids=["braces-keepalived", "braces-auto", "closing-lines-ipvsadm", "bad-lines-keepalived"],
)
def test_the_api_answers_a_small_400_quickly(operator, cluster, format, text):
    url = reverse("api:cluster-import", kwargs={"slug": cluster.slug})
    started = time.monotonic()
    response = operator.post(url, {"text": text, "format": format, "dry_run": True}, format="json")
    elapsed = time.monotonic() - started
    assert response.status_code == 400  # a dry run with errors answers like the commit
    body = response.json()
    assert body["ok"] is False and len(body["errors"]) <= ruleset.MAX_LISTED
    assert len(response.content) < 100_000, len(response.content)
    assert len(body["not_imported"]) <= ruleset.MAX_LISTED and len(body["warnings"]) <= ruleset.MAX_LISTED
    assert elapsed < 12, elapsed  # was 25 s; the parsers stop after 10 s whatever the text
    committed = operator.post(url, {"text": text, "format": format}, format="json")
    assert committed.status_code == 400 and len(committed.content) < 100_000
    assert not VirtualService.objects.exists()


@pytest.mark.django_db
def test_the_api_counts_the_errors_it_does_not_list(operator, cluster):
    url = reverse("api:cluster-import", kwargs={"slug": cluster.slug})
    response = operator.post(url, {"text": CLOSING_LINES, "format": "keepalived"}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert len(body["errors"]) == 100 and body["errors_omitted"] == 599_900
    assert body["errors"][0] == {"line": 1, "message": "“}” closes no block (one “}” too many)"}


@pytest.mark.django_db
def test_the_console_page_lists_the_first_errors_and_counts_the_rest(operator, cluster):
    url = reverse("cluster-import", kwargs={"slug": cluster.slug})
    started = time.monotonic()
    response = operator.post(url, {"text": CLOSING_LINES, "format": "keepalived", "action": "preview"})
    elapsed = time.monotonic() - started
    assert response.status_code == 400
    page = response.content.decode()
    assert "600000 errors: nothing can be imported until they are corrected." in page
    assert "… and 599900 more errors (only the first 100 are listed)." in page
    assert page.count("closes no block") == 100
    # The page repeats the pasted text in its form; the answer is the text plus a small list.
    assert len(response.content) < len(CLOSING_LINES) + 100_000
    assert elapsed < 12, elapsed


@pytest.mark.django_db
def test_the_console_page_answers_braces_with_a_small_page(operator, cluster):
    url = reverse("cluster-import", kwargs={"slug": cluster.slug})
    response = operator.post(url, {"text": BRACES, "format": "keepalived", "action": "preview"})
    assert response.status_code == 400
    page = response.content.decode()
    assert f"blocks are nested more than {keepalived.MAX_DEPTH} deep here" in page
    assert len(response.content) < len(BRACES) + 100_000


@pytest.mark.django_db
def test_text_that_takes_too_long_is_refused_on_the_text_field(operator, cluster, monkeypatch):
    monkeypatch.setattr(ruleset, "PARSE_SECONDS", 0)  # the limit is a setting of the parsers; 0 s trips it at once
    url = reverse("api:cluster-import", kwargs={"slug": cluster.slug})
    response = operator.post(url, {"text": "-A -t 10.0.0.1:80 -s rr\n", "dry_run": True}, format="json")
    assert response.status_code == 400
    assert response.json() == {
        "text": ["The text took too long to read (more than 0 s); split it into smaller imports."]
    }
    page = operator.post(
        reverse("cluster-import", kwargs={"slug": cluster.slug}),
        {"text": "-A -t 10.0.0.1:80 -s rr\n", "format": "auto", "action": "preview"},
    )
    assert page.status_code == 400 and "The text took too long to read" in page.content.decode()
