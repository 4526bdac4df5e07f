"""Console pages of dispatch: revisions, plan and apply with live progress, hosts and their enrollment."""

from agents.views.revisions import RevisionDiffView, RevisionListView, RevisionRollbackView

__all__ = ["RevisionDiffView", "RevisionListView", "RevisionRollbackView"]
