"""Thin os-ken applications over the plain logic objects in eip.sdn (started by `eip controller`)."""
