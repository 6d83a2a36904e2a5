"""Writes of the sensors app other than observations (those are `sensors.ingest`): source keys."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from django.db import transaction

from .models import SensorSource

KEY_PREFIX_CHARS = 8


def key_hash(key: str) -> str:
    """Return the stored form of a key: SHA-256, hex (the key is 256 random bits)."""
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    """Return a fresh random key."""
    return "sk_" + secrets.token_urlsafe(32)


@transaction.atomic
def source_set_key(source: SensorSource) -> str:
    """Give the source a new key (the old one stops working); return the key, shown once."""
    key = new_key()
    source.key_prefix = key[:KEY_PREFIX_CHARS]
    source.key_hash = key_hash(key)
    source.save(update_fields=["key_prefix", "key_hash"] if source.pk else None)
    return key


def source_create(*, name: str) -> tuple[SensorSource, str]:
    """Create a source with a key; return both (the key is not kept, only its hash)."""
    source = SensorSource(name=name)
    key = source_set_key(source)
    return source, key


def source_by_key(key: str) -> SensorSource | None:
    """Return the active source this key belongs to, or None."""
    if not key or len(key) > 200:
        return None
    digest = key_hash(key)
    source = SensorSource.objects.filter(key_hash=digest, active=True).first()
    # The lookup is by the hash's index; compare again in constant time all the same.
    if source is None or not hmac.compare_digest(source.key_hash, digest):
        return None
    return source
