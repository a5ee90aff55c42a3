"""Encryption at rest for tokens and SMTP credentials (Fernet keyed from a configured secret)."""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken


class SecretBox:
    """Encrypts and decrypts short secrets. The key is derived from the configured secret, never stored."""

    def __init__(self, secret: str) -> None:
        if not secret:
            raise ValueError("an encryption secret is required")
        digest = hashlib.sha256(b"embedded-app token encryption v1|" + secret.encode()).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(digest))

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, ciphertext: str) -> str:
        try:
            return self._fernet.decrypt(ciphertext.encode()).decode()
        except InvalidToken as exc:  # wrong key or tampered value
            raise ValueError("stored secret cannot be decrypted with the configured key") from exc
