"""Energy-TCP sequence arithmetic: 32-bit sequence numbers that wrap (R6.3); the one definition.

Everything that adds to, subtracts or compares sequence numbers (the codec's SIG/RCPT checks, the
connection, the window, the card's ledger and pool client) uses these names.
"""

SEQ_MOD = 1 << 32  # sequence numbers are taken modulo 2^32
SEQ_HALF = 1 << 31  # a distance of half the space or more means "before", not "after"


def seq_add(seq: int, n: int) -> int:
    """`seq` advanced by `n` units, wrapped."""
    return (seq + n) % SEQ_MOD


def seq_sub(a: int, b: int) -> int:
    """The distance from `b` forward to `a`, in [0, 2^32)."""
    return (a - b) % SEQ_MOD
