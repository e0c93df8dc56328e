"""The emulated Energy Internet network: plans derived from Mininet topologies, and their bring-up."""
