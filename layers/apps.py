"""App configuration."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LayersConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "layers"
    verbose_name = _("Map layers")

    def ready(self) -> None:
        from . import (
            attachments,  # noqa: F401  (deletes an attachment's files with its row)
            partitions,  # noqa: F401  (drops a deleted layer's partition politely)
            rich_text,  # noqa: F401  (cleans staff-entered HTML on every save)
        )
        from .api import auth  # noqa: F401  (revokes API tokens on a password change)
        from .tiles import signals  # noqa: F401  (connects the tile cache to layer changes)
