"""Card keys: Ed25519 sign/verify, PEM files with mode 0600, clear errors for bad key files."""

import stat

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from eip.errors import EipError
from eip.etcp.keys import CardKey, KeyFileError, verify

SEED = bytes(range(32))
# RFC 8032 section 7.1 test 1: secret key 9d61b1...7f60 has public key d75a98...511a.
RFC_SECRET = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
RFC_PUBLIC = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
RFC_SIG_EMPTY = bytes.fromhex(
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
    "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
)


def test_rfc8032_vector_public_key_and_signature():
    key = CardKey.from_private_bytes(RFC_SECRET)
    assert key.public_bytes == RFC_PUBLIC
    assert key.sign(b"") == RFC_SIG_EMPTY
    assert verify(RFC_PUBLIC, RFC_SIG_EMPTY, b"") is True


def test_sign_is_deterministic_and_verifies():
    key = CardKey.from_private_bytes(SEED)
    sig = key.sign(b"delivery")
    assert len(key.public_bytes) == 32
    assert len(sig) == 64
    assert key.sign(b"delivery") == sig
    assert verify(key.public_bytes, sig, b"delivery") is True
    assert key.public_hex == key.public_bytes.hex()


@pytest.mark.parametrize(
    ("public", "sig", "msg"),
    [
        ("other", "good", b"delivery"),  # another key
        ("good", "good", b"deliverY"),  # altered message
        ("good", "flipped", b"delivery"),  # altered signature
        ("good", b"\x00" * 63, b"delivery"),  # short signature
        (b"\x01" * 31, "good", b"delivery"),  # short public key
        (None, "good", b"delivery"),  # not bytes at all
        ("good", None, b"delivery"),
        ("good", "good", None),
    ],
)
def test_verify_returns_false_on_any_bad_input(public, sig, msg):
    key = CardKey.from_private_bytes(SEED)
    good = key.sign(b"delivery")
    public = {"good": key.public_bytes, "other": CardKey.generate().public_bytes}.get(
        public, public
    )
    sig = {"good": good, "flipped": bytes([good[0] ^ 1]) + good[1:]}.get(sig, sig)
    assert verify(public, sig, msg) is False


def test_save_then_load_gives_the_same_key_with_mode_0600(tmp_path):
    path = tmp_path / "deep" / "dir" / "card.pem"
    key = CardKey.generate()
    key.save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    loaded = CardKey.load(path)
    assert loaded.public_bytes == key.public_bytes
    assert loaded.sign(b"m") == key.sign(b"m")
    assert list(path.parent.iterdir()) == [path]  # no temp file left behind


def test_load_or_create_creates_once_then_loads(tmp_path):
    path = tmp_path / "keys" / "card.pem"
    first = CardKey.load_or_create(path)
    assert path.exists()
    second = CardKey.load_or_create(path)
    assert second.public_bytes == first.public_bytes


def test_load_missing_file_names_the_path(tmp_path):
    path = tmp_path / "nope.pem"
    with pytest.raises(KeyFileError, match=r"nope\.pem: no such file"):
        CardKey.load(path)


def test_load_corrupt_file_is_a_clear_error(tmp_path):
    path = tmp_path / "bad.pem"
    path.write_text("this is not a key\n")
    with pytest.raises(EipError, match=r"bad\.pem: not a PEM private key"):
        CardKey.load(path)


def test_load_a_non_ed25519_key_is_refused(tmp_path):
    path = tmp_path / "ec.pem"
    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path.write_bytes(pem)
    with pytest.raises(KeyFileError, match=r"ec\.pem: not an Ed25519 key \(found ECDSA\)"):
        CardKey.load(path)


def test_load_a_directory_is_a_clear_error(tmp_path):
    with pytest.raises(KeyFileError, match="cannot read"):
        CardKey.load(tmp_path)
