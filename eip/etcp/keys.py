"""A card's Ed25519 key: create, save (PEM PKCS#8, mode 0600), load, sign; and `verify` for anyone's key.

The private key never leaves its file except through `CardKey.sign`. Public keys travel as the 32 raw
bytes of RFC 8032 (in DNS TXT records and the ledger, as hex).
"""

import functools
import logging
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from eip.errors import EipError

log = logging.getLogger(__name__)

PUBLIC_KEY_LEN = 32
SIGNATURE_LEN = 64


class KeyFileError(EipError):
    """A key file cannot be read, is corrupt, or holds something other than an Ed25519 private key."""


class CardKey:
    """One card's Ed25519 private key."""

    __slots__ = ("_key", "public_bytes")

    def __init__(self, key: Ed25519PrivateKey):
        self._key = key
        self.public_bytes: bytes = key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )

    def __repr__(self) -> str:
        return f"CardKey(public={self.public_bytes.hex()})"

    @classmethod
    def generate(cls) -> "CardKey":
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_private_bytes(cls, raw: bytes) -> "CardKey":
        """A key from its 32-byte RFC 8032 seed (tests and fixtures that need a fixed key)."""
        return cls(Ed25519PrivateKey.from_private_bytes(raw))

    @property
    def public_hex(self) -> str:
        return self.public_bytes.hex()

    def sign(self, msg: bytes) -> bytes:
        """The 64-byte Ed25519 signature of msg (deterministic: same key and msg, same bytes)."""
        return self._key.sign(msg)

    def pem(self) -> bytes:
        return self._key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def save(self, path: str | os.PathLike) -> None:
        """Write the key as unencrypted PEM PKCS#8, mode 0600, atomically (temp file, fsync, rename)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.fchmod(fd, 0o600)
            os.write(fd, self.pem())
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "CardKey":
        path = Path(path)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise KeyFileError(f"card key {path}: no such file") from None
        except OSError as exc:
            raise KeyFileError(f"card key {path}: cannot read: {exc.strerror or exc}") from None
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except TypeError:
            raise KeyFileError(f"card key {path}: encrypted keys are not supported") from None
        except (ValueError, UnsupportedAlgorithm):
            raise KeyFileError(
                f"card key {path}: not a PEM private key (corrupt or wrong file)"
            ) from None
        if not isinstance(key, Ed25519PrivateKey):
            raise KeyFileError(f"card key {path}: not an Ed25519 key (found {_kind(key)})")
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            log.warning("card key %s is readable by others (mode %o); use chmod 600", path, mode)
        return cls(key)

    @classmethod
    def load_or_create(cls, path: str | os.PathLike) -> "CardKey":
        """Load the key at path, or generate and save a new one if the file does not exist."""
        if Path(path).exists():
            return cls.load(path)
        key = cls.generate()
        key.save(path)
        return key


def _kind(key) -> str:
    for cls, name in ((rsa.RSAPrivateKey, "RSA"), (ec.EllipticCurvePrivateKey, "ECDSA")):
        if isinstance(key, cls):
            return name
    return type(key).__name__


@functools.lru_cache(maxsize=1024)
def _public_key(public_bytes: bytes) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(public_bytes)


def verify(public_bytes: bytes, signature: bytes, msg: bytes) -> bool:
    """True if signature is a valid Ed25519 signature of msg by public_bytes; False for any bad input."""
    try:
        _public_key(bytes(public_bytes)).verify(bytes(signature), bytes(msg))
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


class Verifier:
    """Ed25519 verification with one peer's public key; an unknown or malformed key verifies nothing."""

    __slots__ = ("_pub",)

    def __init__(self, key: bytes | None) -> None:
        self._pub = None
        if key is not None:
            try:
                self._pub = Ed25519PublicKey.from_public_bytes(bytes(key))
            except ValueError:
                self._pub = None

    def __call__(self, sig: bytes, msg: bytes) -> bool:
        if self._pub is None:
            return False
        try:
            self._pub.verify(bytes(sig), msg)
        except InvalidSignature:
            return False
        return True
