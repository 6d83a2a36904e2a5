"""Create the first admin account if there is none, and say how to sign in."""

import os
import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Create a superuser when none exists (from DJANGO_SUPERUSER_USERNAME/_EMAIL/_PASSWORD, "
        "or 'admin' with a random password printed once)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--url", default="http://127.0.0.1:8000/admin/")

    def handle(self, *args, url: str, **options) -> None:
        users = get_user_model()
        existing = users.objects.filter(is_superuser=True).order_by("pk").first()
        if existing:
            self.stdout.write(
                f"Admin account: {existing.get_username()} at {url} "
                "(its password was printed when it was created)."
            )
            return
        username = os.environ.get("DJANGO_SUPERUSER_USERNAME", "admin")
        email = os.environ.get("DJANGO_SUPERUSER_EMAIL", "")
        password = os.environ.get("DJANGO_SUPERUSER_PASSWORD") or secrets.token_urlsafe(12)
        users.objects.create_superuser(username=username, email=email, password=password)
        shown = (
            "(from DJANGO_SUPERUSER_PASSWORD)"
            if os.environ.get("DJANGO_SUPERUSER_PASSWORD")
            else password
        )
        self.stdout.write(
            self.style.SUCCESS(
                f"\nCreated the admin account — shown once, note it down:\n"
                f"  URL:      {url}\n  user:     {username}\n  password: {shown}\n"
            )
        )
