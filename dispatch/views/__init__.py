"""Console pages of dispatch: revisions, plan and apply with live progress, hosts and their enrollment."""
