"""The Energy Internet Card: Energy-TCP endpoint, profile ledger and control interface (docs/card.md)."""
