"""Property tests through the database: a rule set the inventory accepts, imported and exported, comes back the same.

The rule sets are drawn within the model's rules (TUN and DR keep the virtual port, DR and NAT stay in the VIP's
family, gue needs a port, one-packet scheduling is for UDP …), so that every example commits; the import and
the export then have to agree on every field between the rule set and the inventory.
"""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase

from clusters.actions.imports import commit_import
from clusters.exports import cluster_rules, export_text
from clusters.interchange import canonical, ipvsadm, keepalived
from tests.factories import make_cluster, make_member, make_user
from tests.interchange import strategies

rule_sets = strategies.rule_sets(model_valid=True, max_size=3)
keepalived_rule_sets = strategies.rule_sets(model_valid=True, max_size=3, keepalived=True)
DB_PROPERTIES = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.django_db
class TestImportExportRoundTrip(TestCase):
    """Each example runs in its own transaction, rolled back afterwards."""

    def operator_and_cluster(self):
        user = make_user(staff=False)
        make_member(user)
        return user, make_cluster()

    @DB_PROPERTIES
    @given(data=st.data(), format=st.sampled_from(["ipvsadm", "keepalived"]))
    def test_import_then_export_gives_the_same_rule_set(self, data, format):
        rules = data.draw(keepalived_rule_sets if format == "keepalived" else rule_sets)
        user, cluster = self.operator_and_cluster()
        text = ipvsadm.render(rules) if format == "ipvsadm" else keepalived.render(rules)
        result = commit_import(acting_user=user, cluster=cluster, text=text, format=format)
        assert result.committed, result.errors
        assert canonical(cluster_rules(cluster)) == canonical(rules)
        if format == "ipvsadm":
            assert export_text(cluster, "ipvsadm") == ipvsadm.render(cluster_rules(cluster))

    @DB_PROPERTIES
    @given(before=rule_sets, after=rule_sets)
    def test_update_existing_makes_the_services_match_the_import(self, before, after):
        user, cluster = self.operator_and_cluster()
        commit_import(acting_user=user, cluster=cluster, text=ipvsadm.render(before))
        commit_import(acting_user=user, cluster=cluster, text=ipvsadm.render(after), update_existing=True)
        exported = {service.key: service for service in cluster_rules(cluster)}
        for service in after:  # what the second import names is as it says; nothing else was deleted
            kept = {dest.key: dest for dest in exported[service.key].real_servers}
            assert exported[service.key].settings() == service.settings()
            assert all(kept[dest.key] == dest for dest in service.real_servers)
        assert set(exported) == {service.key for service in before} | {service.key for service in after}
