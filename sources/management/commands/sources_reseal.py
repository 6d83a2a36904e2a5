"""Seal every source's password or token again under the current SECRET_KEY.

After a key rotation (the old key in SECRET_KEY_FALLBACKS), run this, then drop the old key.
"""

from django.core.management.base import BaseCommand, CommandError

from sources.models import LayerSource
from sources.sealing import SecretUnreadable, reseal


class Command(BaseCommand):
    help = "Seal the sources' passwords and tokens again under the current SECRET_KEY."

    def handle(self, *args, **options):
        done, unreadable = 0, []
        for source in LayerSource.objects.exclude(secret="").select_related("layer"):
            try:
                sealed = reseal(source.secret)
            except SecretUnreadable:
                unreadable.append(f"{source.pk} ({source.layer.slug})")
                continue
            LayerSource.objects.filter(pk=source.pk).update(secret=sealed)
            done += 1
        self.stdout.write(f"{done} source secret(s) sealed under the current key.")
        if unreadable:
            raise CommandError(
                "These sources' secrets fit no key in SECRET_KEY or SECRET_KEY_FALLBACKS: "
                f"{', '.join(unreadable)}. Put the old key back in SECRET_KEY_FALLBACKS and run "
                "this again, or type their passwords again in the admin."
            )
