"""The LVS inventory: clusters, hosts, virtual services and real servers."""
