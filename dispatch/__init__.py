"""Host agents: the Django side lives here; `lvsweb_agent` is the host runtime and never imports Django."""
