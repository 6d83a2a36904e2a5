"""The settings in force, with their secrets left out, as a backup keeps them.

They tell whoever restores how the old deployment was set up (paths, limits, queues, the web
map's layers). Only the project's own settings (those `mapserver/settings.py` defines), never
Django's defaults. A secret is recognised by its name, at any depth (SECRET_KEY,
DATABASES.default.PASSWORD, HEALTH_DETAIL_TOKEN, an API_KEY or a SENTRY_DSN to come): it is left
out and listed by name under `_omitted`. A URL anywhere keeps its host but loses its password.
"""

from __future__ import annotations

import json
import os
import re
from importlib import import_module
from typing import Any

from django.conf import settings

# A name holding any of these words (split at underscores, any case) is a secret.
SECRET_WORDS = frozenset(
    {"SECRET", "PASSWORD", "PASSWD", "PASS", "TOKEN", "TOKENS", "KEY", "KEYS", "DSN", "SALT",
     "CREDENTIAL", "CREDENTIALS", "PRIVATE", "SIGNATURE"}
)  # fmt: skip
# scheme://user:password@ (the user may be empty: redis://:password@host).
URL_WITH_PASSWORD = re.compile(r"([a-z][a-z0-9+.-]*://)([^/\s:@]*):[^@\s/]*@", re.IGNORECASE)
OMITTED = "_omitted"


def is_secret(name: str) -> bool:
    """Return whether a setting (or a key inside one) is named like a secret."""
    return bool(SECRET_WORDS & set(re.split(r"[_\W]+", str(name).upper())))


def _without_password(match: re.Match) -> str:
    scheme, user = match.group(1), match.group(2)
    return scheme + (f"{user}@" if user else "")


def _clean(value: Any, path: str, omitted: list[str]) -> Any:
    if isinstance(value, dict):
        kept = {}
        for key, item in value.items():
            if is_secret(key):
                omitted.append(f"{path}.{key}")
                continue
            kept[str(key)] = _clean(item, f"{path}.{key}", omitted)
        return kept
    if isinstance(value, list | tuple | set | frozenset):
        items = [_clean(item, path, omitted) for item in value]
        return sorted(items, key=str) if isinstance(value, set | frozenset) else items
    if isinstance(value, str):
        return URL_WITH_PASSWORD.sub(_without_password, value)
    if value is None or isinstance(value, bool | int | float):
        return value
    return _clean(str(value), path, omitted)


def public_settings() -> dict[str, Any]:
    """Return the project's settings as JSON-ready values, secrets left out."""
    # Under override_settings (tests) SETTINGS_MODULE reads None; the environment still names it.
    module = import_module(
        settings.SETTINGS_MODULE or os.environ.get("DJANGO_SETTINGS_MODULE", "mapserver.settings")
    )
    names = sorted(name for name in vars(module) if name.isupper())
    omitted: list[str] = []
    kept: dict[str, Any] = {}
    for name in names:
        if is_secret(name):
            omitted.append(name)
            continue
        kept[name] = _clean(getattr(settings, name), name, omitted)
    kept[OMITTED] = sorted(omitted)
    return kept


def public_settings_json() -> bytes:
    """Return `public_settings()` as UTF-8 JSON."""
    return json.dumps(public_settings(), ensure_ascii=False, indent=2, sort_keys=True).encode()
