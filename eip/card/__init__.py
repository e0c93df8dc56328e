"""The Energy Internet Card (docs/card.md): `node.CardNode` is the card as plain logic (datagrams, control
requests and the time in, actions out), `daemon.CardDaemon` its thin shell of sockets; Energy-TCP itself
is eip/etcp/, the profile ledger `ledger`, the control interface `control` and `ops`.
"""
