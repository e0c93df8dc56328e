"""Software-defined energy network (seed 004): packetized energy, its agents and the energy server."""
