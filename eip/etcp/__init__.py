"""Energy-TCP (section 6 of the spec) as plain logic, shared by the card and the SDEN energy server.

`connection.Connection` is the state machine (sender half in `send`, receiver half in `recv`); it
returns the effects of `model`; `window` is the send window (R6.5); `keys` the card key and the
verifier; sequence arithmetic is `eip.protocol.seq`. Imports only `eip.protocol` and `eip.errors`.
"""
