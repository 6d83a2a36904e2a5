"""The Vietnamese catalogue: every translation is whole and said once."""

from django.utils import translation
from django.utils.translation import trans_real


def test_no_translation_is_its_own_text_twice():
    catalog = trans_real.translation("vi")._catalog
    doubled = [
        msgid
        for msgid, text in catalog.items()
        if isinstance(text, str) and len(text) > 1 and text == text[: len(text) // 2] * 2
    ]
    assert doubled == []


def test_the_site_speaks_vietnamese():
    with translation.override("vi"):
        assert translation.gettext("City map layers") == "Lớp bản đồ thành phố"
