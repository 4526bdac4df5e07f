"""Live traffic: IPVS counters from the directors' agents, rates, history, warnings and /metrics."""
