"""Exceptions that eip raises to users: one type per kind of failure, each naming what is wrong."""


class EipError(Exception):
    """Base of every error eip reports to a user; the CLI prints its message, never a traceback."""


class DecodeError(EipError, ValueError):
    """A packet or field could not be decoded: names the field and the byte offset where it failed.

    Every decoder in eip (fast codec, Scapy layers' helpers) raises only this for bad input, never
    IndexError or struct.error.
    """

    def __init__(self, field: str, offset: int, reason: str):
        self.field = field
        self.offset = offset
        self.reason = reason
        super().__init__(f"{field} at byte {offset}: {reason}")


class EncodeError(EipError, ValueError):
    """A value cannot be encoded: out of its field's range, or a message that breaks a protocol rule."""

    def __init__(self, field: str, reason: str):
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")
