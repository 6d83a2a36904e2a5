"""The Celery app; workers run every slow job (imports, tile seeding, exports)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mapserver.settings")

app = Celery("mapserver")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
