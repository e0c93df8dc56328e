"""Old import path of the card key: moved to eip/etcp/keys.py (kept for modules not yet switched)."""

from eip.etcp.keys import PUBLIC_KEY_LEN, SIGNATURE_LEN, CardKey, KeyFileError, Verifier, verify

__all__ = ["PUBLIC_KEY_LEN", "SIGNATURE_LEN", "CardKey", "KeyFileError", "Verifier", "verify"]
