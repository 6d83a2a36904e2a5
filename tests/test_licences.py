"""The dependency licence check (scripts/licences.py): how it reads licences, and the real run.

The real run lists every installed Python and npm package with pip-licenses and
license-checker-rseidelsohn, writes the table to test-artifacts/licences.txt, and fails naming each
package whose licence may not ship with Apache-2.0 code and has no reviewed exception.
"""

import datetime
import importlib.util
import sys
from pathlib import Path

import pytest

REPO_DIR = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("licences", REPO_DIR / "scripts" / "licences.py")
licences = importlib.util.module_from_spec(_spec)
sys.modules["licences"] = licences  # dataclasses look their module up there
_spec.loader.exec_module(licences)

Verdict = licences.Verdict
TODAY = datetime.date(2026, 12, 5)


def _dependency(name, licence, *, ecosystem="python", scope="runtime", reported=None):
    return licences.Dependency(ecosystem, name, "1.0", scope, reported or licence, licence)


def _exception(package, licence, *, ecosystem="python"):
    return licences.LicenceException(ecosystem, package, licence, "reviewed", "a reviewer", TODAY)


@pytest.mark.parametrize(
    ("reported", "expected"),
    [
        ("MIT License", "MIT"),
        ("BSD License", "BSD"),
        ("3-Clause BSD License", "BSD-3-Clause"),
        ("Apache License, Version 2.0", "Apache-2.0"),
        ("Apache Software License; BSD License", "Apache-2.0 AND BSD"),
        ("BSD 3-Clause OR Apache-2.0", "BSD-3-Clause OR Apache-2.0"),
        ("Mozilla Public License 2.0 (MPL 2.0)", "MPL-2.0"),
        ("BSD-3-Clause AND 0BSD AND MIT AND Zlib AND CC0-1.0", "BSD-3-Clause AND 0BSD AND MIT AND Zlib AND CC0-1.0"),  # noqa: E501
        ("(MIT OR Apache-2.0)", "(MIT OR Apache-2.0)"),
        ("GNU General Public License v3 (GPLv3)", "GPL-3.0-only"),
        ("GNU Lesser General Public License v3 (LGPLv3)", "LGPL-3.0-only"),
        ("GNU Affero General Public License v3", "AGPL-3.0-only"),
        ("Other/Proprietary License", "LicenseRef-Proprietary"),
        ("MIT License\n\nCopyright (c) 2020 Someone\n\nPermission is hereby granted, free of "
         "charge, to any person obtaining a copy of this software", "MIT"),
        ("                    GNU GENERAL PUBLIC LICENSE\n   Version 3, 29 June 2007\n", "GPL"),
        ("UNKNOWN", "UNKNOWN"),
        ("", "UNKNOWN"),
        (None, "UNKNOWN"),
        ("Custom: https://example.org/our-terms", "UNKNOWN"),
        ("Frobnicate Public Licence", "UNKNOWN"),
    ],
)  # fmt: skip
def test_normalise_reads_what_package_metadata_says(reported, expected):
    assert licences.normalise(reported) == expected


@pytest.mark.parametrize(
    ("expression", "verdict"),
    [
        ("MIT", Verdict.OK),
        ("MPL-2.0", Verdict.OK),
        ("Apache-2.0 AND BSD", Verdict.OK),
        ("GPL-3.0-only", Verdict.INCOMPATIBLE),
        ("GPL-2.0+", Verdict.INCOMPATIBLE),
        ("AGPL-3.0-or-later", Verdict.INCOMPATIBLE),
        ("SSPL-1.0", Verdict.INCOMPATIBLE),
        ("CC-BY-NC-4.0", Verdict.INCOMPATIBLE),
        ("LicenseRef-Proprietary", Verdict.INCOMPATIBLE),
        ("LGPL-3.0-only", Verdict.REVIEW),
        ("GPL-2.0-only WITH Classpath-exception-2.0", Verdict.REVIEW),
        ("MIT OR GPL-3.0-only", Verdict.OK),  # we may choose MIT
        ("MIT AND GPL-3.0-only", Verdict.INCOMPATIBLE),  # we must comply with both
        ("(MIT OR GPL-2.0-only) AND LGPL-2.1-only", Verdict.REVIEW),
        ("UNKNOWN", Verdict.UNKNOWN),
        ("Frobnicate-1.0", Verdict.UNKNOWN),
        ("MIT AND", Verdict.UNKNOWN),
        ("(MIT", Verdict.UNKNOWN),
    ],
)
def test_verdict_of_an_expression(expression, verdict):
    assert licences.expression_verdict(expression) is verdict


def test_a_gpl_and_an_unknown_package_fail_and_the_message_says_what_to_do():
    report = licences.check(
        [
            _dependency("fine", "MIT"),
            _dependency("copyleft", "GPL-3.0-only"),
            _dependency("mystery", "UNKNOWN", ecosystem="npm", reported="Custom: https://x.org"),
        ],
        [],
    )
    assert not report.ok
    assert [d.name for d in report.failures] == ["mystery", "copyleft"]
    message = licences.failure_message(report, table_path=None)
    assert "python copyleft 1.0 (runtime): GPL-3.0-only: incompatible" in message
    assert 'npm mystery 1.0 (runtime): UNKNOWN (reported as "Custom: https://x.org"): unknown' in (
        message
    )
    assert "Replace the package" in message and "licences-allowed.toml" in message
    assert 'package = "mystery"' in message and "reviewed_by" in message


def test_a_reviewed_exception_covers_its_package_only_under_the_licence_it_names():
    lgpl = _exception("psycopg", "LGPL-3.0-only")
    passed = licences.check([_dependency("psycopg", "LGPL-3.0-only")], [lgpl])
    assert passed.ok and [d.name for d in passed.excepted] == ["psycopg"]
    # A release under another licence needs a new review: the old exception no longer applies.
    relicensed = licences.check([_dependency("psycopg", "GPL-3.0-only")], [lgpl])
    assert [d.name for d in relicensed.failures] == ["psycopg"]
    assert relicensed.stale == [lgpl]


def test_an_exception_that_matches_nothing_installed_fails_as_stale():
    report = licences.check([_dependency("django", "BSD-3-Clause")], [_exception("gone", "GPL")])
    assert not report.ok and not report.failures
    assert "'gone' (GPL) matches no installed package" in licences.failure_message(report, None)


def test_the_exceptions_file_must_say_who_reviewed_and_the_licence_as_reported(tmp_path):
    path = tmp_path / "licences-allowed.toml"
    path.write_text(
        '[[exception]]\necosystem = "python"\npackage = "psycopg"\nlicence = "LGPL-3.0-only"\n'
        'reason = "imported unmodified"\nreviewed_on = 2026-12-05\n'
    )
    with pytest.raises(licences.ExceptionsFileError, match=r"psycopg\): missing reviewed_by"):
        licences.exceptions_load(path)
    path.write_text(
        '[[exception]]\necosystem = "python"\npackage = "x"\nlicence = "GNU Lesser General '
        'Public License v3 (LGPLv3)"\nreason = "r"\nreviewed_by = "me"\nreviewed_on = 2026-12-05\n'
    )
    with pytest.raises(licences.ExceptionsFileError, match=r"write 'LGPL-3\.0-only'"):
        licences.exceptions_load(path)


def test_every_dependency_may_be_distributed_with_the_apache_licensed_project():
    exceptions = licences.exceptions_load()
    dependencies = [*licences.python_dependencies(), *licences.npm_dependencies()]
    report = licences.check(dependencies, exceptions)
    licences.TABLE_PATH.parent.mkdir(parents=True, exist_ok=True)
    licences.TABLE_PATH.write_text(licences.table(report), encoding="utf-8")
    # Not vacuous: both tools read the real installs, runtime and development packages alike.
    names = {(d.ecosystem, d.name.lower()) for d in dependencies}
    assert {("python", "django"), ("python", "psycopg"), ("python", "pytest")} <= names
    assert {("npm", "maplibre-gl"), ("npm", "license-checker-rseidelsohn")} <= names
    assert report.ok, licences.failure_message(report)
