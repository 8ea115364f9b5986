"""Network conditions of village links, simulated in user space (no kernel netem here)."""
