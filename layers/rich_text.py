"""Staff-entered HTML that others are shown: a layer's attribution, cleaned by one sanitiser.

TileJSON and OGC API clients (MapLibre's attribution control, QGIS, web pages built on our layers)
put the attribution into their page as HTML, so it may hold links and a little inline markup, and
nothing that runs: no script, no event attributes, no `javascript:` or `data:` URLs. It is cleaned
when a layer is saved and again where it is sent out, since rows saved before this rule (or by a
queryset update) were never cleaned. The source and licence are plain text: clients show them as
text and they are not cleaned (which would turn a `<` into `&lt;`).
"""

from __future__ import annotations

import nh3
from django.db.models.signals import pre_save
from django.dispatch import receiver

from .models import Layer

ATTRIBUTION_TAGS = frozenset(
    {"a", "abbr", "b", "br", "em", "i", "small", "span", "strong", "sub", "sup"}
)
ATTRIBUTION_ATTRIBUTES = {"a": {"href", "title"}, "abbr": {"title"}}
URL_SCHEMES = frozenset({"http", "https"})
# A link to another site must not reach back into the page that opened it (window.opener).
LINK_REL = "noopener noreferrer nofollow"


def clean_attribution(text: str | None) -> str:
    """Return the attribution with only links (http, https) and basic inline tags left."""
    if not text:
        return ""
    return nh3.clean(
        text,
        tags=set(ATTRIBUTION_TAGS),
        attributes=ATTRIBUTION_ATTRIBUTES,
        url_schemes=set(URL_SCHEMES),
        link_rel=LINK_REL,
        strip_comments=True,
    )


@receiver(pre_save, sender=Layer, dispatch_uid="rich_text_layer_pre_save")
def clean_layer_html(sender, instance: Layer, **kwargs) -> None:
    """Clean a layer's attribution on every save (admin, API, import, demo loader)."""
    instance.attribution = clean_attribution(instance.attribution)
