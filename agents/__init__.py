"""Host agents: the Django side lives here; `agents.host` is the host runtime and never imports Django."""
