"""A source's password or token, sealed at rest (Fernet, from the `cryptography` package).

Why: a database dump, a backup (`manage.py backup`) or a read replica must not hand a
department's password to whoever reads it. Fernet is authenticated encryption (AES-128-CBC and
HMAC-SHA256) made for exactly this: small secrets a server must read back.

The key is derived from Django's SECRET_KEY (HKDF-SHA256 with an info string of its own, so it is
no other use's key), so there is no new setting to lose or to leak. A key rotation follows
Django's: the old key goes into SECRET_KEY_FALLBACKS, secrets sealed under it stay readable, and
`manage.py sources_reseal` seals them all again under the new one. A stored value without the
`fernet:` prefix is one from before sealing (migration 0002 seals those).
"""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

from layers.importers import ImportFailed

PREFIX = "fernet:"
_INFO = b"mapserver sources: sealed credentials v1"


def _fernet(secret_key: str) -> Fernet:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(
        secret_key.encode()
    )
    return Fernet(base64.urlsafe_b64encode(derived))


def _keys() -> MultiFernet:
    """The current key first (it seals), then the fallbacks (they only unseal)."""
    return MultiFernet(
        [_fernet(key) for key in [settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS]]
    )


class SecretUnreadable(ImportFailed):
    """The stored secret was sealed under a key this server no longer has."""


def is_sealed(stored: str) -> bool:
    return stored.startswith(PREFIX)


def seal(plain: str) -> str:
    """Return what the database keeps for this password or token ("" stays "")."""
    if not plain:
        return ""
    return PREFIX + _keys().encrypt(plain.encode()).decode()


def unseal(stored: str) -> str:
    """Return the password or token a stored value holds; raise SecretUnreadable if no key fits."""
    if not stored or not is_sealed(stored):
        return stored
    try:
        return _keys().decrypt(stored[len(PREFIX) :].encode()).decode()
    except InvalidToken as error:
        raise SecretUnreadable(
            "The stored password or token of this source cannot be read with this server's "
            "SECRET_KEY (was the key changed?), so the sync did not run and the layer was not "
            "changed. Type the password or token again in the source's page, or put the old key "
            "in SECRET_KEY_FALLBACKS."
        ) from error


def reseal(stored: str) -> str:
    """Return the stored value sealed under the current key (a plain old value gets sealed)."""
    if not stored:
        return ""
    if not is_sealed(stored):
        return seal(stored)
    unseal(stored)  # says which key is missing when none fits
    return PREFIX + _keys().rotate(stored[len(PREFIX) :].encode()).decode()
