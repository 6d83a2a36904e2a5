"""The Vietnamese catalogue: every translation is whole and said once."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

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


CATALOGUES = [
    "locale/vi/LC_MESSAGES/django.po",
    "frontend/locale/vi/LC_MESSAGES/django.po",
    "frontend/locale/vi/LC_MESSAGES/djangojs.po",
]


def test_every_string_is_extracted_and_translated(tmp_path):
    # `make messages` runs on a copy of the tree (tracked and new files, not ignored ones), so
    # a string added to the code without re-extracting the catalogues is caught too; msgfmt
    # (Debian gettext, which makemessages needs anyway) then counts what is left: a new string
    # must be translated, and a fuzzy guess (msgmerge's nearest old text, often wrong) checked.
    root = Path(__file__).resolve().parent.parent
    files = (
        subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=root,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .split("\0")
    )
    tree = tmp_path / "tree"
    for name in filter(None, files):
        if (root / name).is_file():
            (tree / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(root / name, tree / name)
    (tree / ".venv").symlink_to(sys.prefix)
    made = subprocess.run(["make", "-s", "messages"], cwd=tree, capture_output=True, text=True)
    assert made.returncode == 0, made.stderr[-3000:]
    for catalogue in CATALOGUES:
        done = subprocess.run(
            ["msgfmt", "--check", "--statistics", "-o", "/dev/null", str(tree / catalogue)],
            capture_output=True,
            text=True,
            check=True,
        )
        left = re.findall(r"(\d+) (fuzzy|untranslated) translation", done.stderr)
        assert left == [], (
            f"{catalogue}: {done.stderr.strip().splitlines()[-1]} (run `make messages`, translate)"
        )
