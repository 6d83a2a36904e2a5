"""The licences of the Python and npm dependencies, checked against Apache-2.0 distribution.

    .venv/bin/python scripts/licences.py [--out test-artifacts/licences.txt]

Lists what is installed (pip-licenses reads the venv, license-checker-rseidelsohn reads
node_modules), reads each licence as SPDX identifiers (package metadata says "MIT License",
"BSD", a PEP 639 expression or a whole licence text), decides whether code under it may be
distributed with this Apache-2.0 project, applies the reviewed exceptions of
licences-allowed.toml, writes the table, and exits 1 naming each package that fails. Runs without
Django: `tests/test_licences.py` runs it in `make test`; docs/licences.md says why each rule.
"""

from __future__ import annotations

import argparse
import datetime
import json
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path

REPO_DIR = Path(__file__).resolve().parent.parent
EXCEPTIONS_PATH = REPO_DIR / "licences-allowed.toml"
TABLE_PATH = REPO_DIR / "test-artifacts" / "licences.txt"
NPM_CHECKER = REPO_DIR / "node_modules" / ".bin" / "license-checker-rseidelsohn"
UNKNOWN = "UNKNOWN"


class Verdict(IntEnum):
    """How a licence stands for distribution with Apache-2.0 code, best first."""

    OK = 0
    REVIEW = 1  # weak copyleft: fine as an unmodified library, but someone must say so
    UNKNOWN = 2  # no licence, or one this check cannot read
    INCOMPATIBLE = 3  # strong or network copyleft, non-commercial, proprietary

    @property
    def label(self) -> str:
        return {0: "ok", 1: "needs review", 2: "unknown", 3: "incompatible"}[self.value]


# Permissive licences (Apache's "category A"), plus MPL-2.0: its copyleft covers only its own
# files, and we use them unmodified. "BSD" is a BSD licence whose clause count the metadata omits.
PERMISSIVE = frozenset(
    {
        "0BSD", "AFL-2.1", "AFL-3.0", "Apache-1.1", "Apache-2.0", "Artistic-2.0", "BlueOak-1.0.0",
        "BSD", "BSD-1-Clause", "BSD-2-Clause", "BSD-3-Clause", "BSD-3-Clause-Clear", "BSL-1.0",
        "CC-BY-3.0", "CC-BY-4.0", "CC0-1.0", "CNRI-Python", "HPND", "ISC", "MIT", "MIT-0",
        "MIT-CMU", "MPL-2.0", "MS-PL", "NCSA", "OFL-1.1", "PostgreSQL", "PSF-2.0", "Python-2.0",
        "Unicode-3.0", "Unicode-DFS-2016", "Unlicense", "UPL-1.0", "W3C", "WTFPL", "X11", "Zlib",
        "ZPL-2.1", "LicenseRef-Public-Domain",
    }
)  # fmt: skip
# Weak copyleft: compatible when linked or imported unmodified, with obligations (ship the licence
# text, let users replace the library, publish changes to its files). A person decides, per package.
WEAK_COPYLEFT = frozenset(
    {
        "CDDL-1.0", "CDDL-1.1", "CC-BY-SA-3.0", "CC-BY-SA-4.0", "EPL-1.0", "EPL-2.0", "LGPL",
        "MPL-1.1",
    }
)  # fmt: skip
WEAK_COPYLEFT_PREFIXES = ("LGPL-",)
# Whoever distributes Apache-2.0 code with these must put the whole under their terms, may not use
# it commercially, or may not distribute it at all.
INCOMPATIBLE = frozenset(
    {"AGPL", "GPL", "JSON", "LicenseRef-Proprietary", "SSPL-1.0", "BUSL-1.1", "UNLICENSED"}
)
INCOMPATIBLE_PREFIXES = (
    "AGPL-", "GPL-", "CC-BY-NC", "CC-BY-ND", "CECILL-", "CeCILL-", "CPAL-", "EUPL-", "OSL-",
    "RPL-", "Sleepycat", "SSPL-", "Elastic-", "Commons-Clause",
)  # fmt: skip
# An exception such as the Classpath exception lifts the GPL's reach over code that links to it.
LINKING_EXCEPTIONS = frozenset(
    {"Classpath-exception-2.0", "GCC-exception-3.1", "LLVM-exception", "Autoconf-exception-3.0"}
)

# Names that package metadata uses (trove classifiers without "License :: OSI Approved ::",
# free-text License fields), compared in lower case with runs of spaces, commas and "version"
# squeezed out, mapped to SPDX identifiers.
ALIASES = {
    "mit": "MIT", "mit license": "MIT", "the mit license": "MIT", "mit/x11": "MIT",
    "expat": "MIT", "expat license": "MIT", "mit-cmu": "MIT-CMU",
    "bsd": "BSD", "bsd license": "BSD",
    "new bsd": "BSD-3-Clause", "new bsd license": "BSD-3-Clause", "modified bsd": "BSD-3-Clause",
    "3-clause bsd": "BSD-3-Clause", "3-clause bsd license": "BSD-3-Clause",
    "bsd 3-clause": "BSD-3-Clause", "bsd 3-clause license": "BSD-3-Clause",
    "bsd-3": "BSD-3-Clause", "bsd 3": "BSD-3-Clause",
    "simplified bsd": "BSD-2-Clause", "2-clause bsd": "BSD-2-Clause",
    "bsd 2-clause": "BSD-2-Clause", "bsd 2-clause license": "BSD-2-Clause",
    "apache": "Apache-2.0", "apache software license": "Apache-2.0", "apache 2": "Apache-2.0",
    "apache 2.0": "Apache-2.0", "apache-2": "Apache-2.0", "apache license": "Apache-2.0",
    "apache license 2.0": "Apache-2.0", "apache software license 2.0": "Apache-2.0",
    "apache license 2": "Apache-2.0", "asl 2.0": "Apache-2.0",
    "mozilla public license 2.0 (mpl 2.0)": "MPL-2.0", "mpl 2.0": "MPL-2.0", "mpl-2": "MPL-2.0",
    "mozilla public license 1.1 (mpl 1.1)": "MPL-1.1",
    "isc": "ISC", "isc license": "ISC", "isc license (iscl)": "ISC",
    "python software foundation license": "PSF-2.0", "psf": "PSF-2.0", "psfl": "PSF-2.0",
    "psf license": "PSF-2.0", "the unlicense (unlicense)": "Unlicense",
    "public domain": "LicenseRef-Public-Domain",
    "cc0 1.0 universal (cc0 1.0) public domain dedication": "CC0-1.0",
    "zlib/libpng license": "Zlib", "zope public license": "ZPL-2.1",
    "historical permission notice and disclaimer (hpnd)": "HPND",
    "boost software license 1.0 (bsl-1.0)": "BSL-1.0",
    "academic free license (afl)": "AFL-3.0",
    "universal permissive license (upl)": "UPL-1.0",
    "sil open font license 1.1 (ofl-1.1)": "OFL-1.1",
    "eclipse public license 1.0 (epl-1.0)": "EPL-1.0",
    "eclipse public license 2.0 (epl-2.0)": "EPL-2.0",
    "common development and distribution license 1.0 (cddl-1.0)": "CDDL-1.0",
    "gnu lesser general public license v2 (lgplv2)": "LGPL-2.0-only",
    "gnu lesser general public license v2 or later (lgplv2+)": "LGPL-2.0-or-later",
    "gnu lesser general public license v3 (lgplv3)": "LGPL-3.0-only",
    "gnu lesser general public license v3 or later (lgplv3+)": "LGPL-3.0-or-later",
    "gnu library or lesser general public license (lgpl)": "LGPL", "lgpl": "LGPL",
    "lgplv3": "LGPL-3.0-only", "lgplv3+": "LGPL-3.0-or-later", "lgplv2+": "LGPL-2.0-or-later",
    "gnu general public license (gpl)": "GPL", "gpl": "GPL",
    "gnu general public license v2 (gplv2)": "GPL-2.0-only", "gplv2": "GPL-2.0-only",
    "gnu general public license v2 or later (gplv2+)": "GPL-2.0-or-later",
    "gplv2+": "GPL-2.0-or-later",
    "gnu general public license v3 (gplv3)": "GPL-3.0-only", "gplv3": "GPL-3.0-only",
    "gnu general public license v3 or later (gplv3+)": "GPL-3.0-or-later",
    "gplv3+": "GPL-3.0-or-later",
    "gnu affero general public license v3": "AGPL-3.0-only", "agplv3": "AGPL-3.0-only",
    "gnu affero general public license v3 or later (agplv3+)": "AGPL-3.0-or-later",
    "european union public licence 1.2 (eupl 1.2)": "EUPL-1.2",
    "server side public license (sspl)": "SSPL-1.0",
    "other/proprietary license": "LicenseRef-Proprietary", "proprietary": "LicenseRef-Proprietary",
    "commercial": "LicenseRef-Proprietary", "unlicensed": "UNLICENSED",
}  # fmt: skip
# Whole licence texts pasted into a License field, recognised by a phrase of their own (the
# lesser GPL before the GPL, whose name it contains).
TEXT_SIGNATURES = (
    ("gnu affero general public license", "AGPL"),
    ("gnu lesser general public license", "LGPL"),
    ("gnu general public license", "GPL"),
    ("apache license", "Apache-2.0"),
    ("mozilla public license version 2.0", "MPL-2.0"),
    ("permission is hereby granted, free of charge", "MIT"),
    ("redistribution and use in source and binary forms", "BSD"),
    ("permission to use, copy, modify, and/or distribute this software", "ISC"),
)
# Words that say nothing about the licence: classifiers such as "OSI Approved", pip-licenses' gaps.
UNINFORMATIVE = frozenset({"", "unknown", "none", "osi approved", "other", "dual license"})

SPDX_TOKEN = re.compile(r"\(|\)|[A-Za-z0-9.+:-]+")
SPDX_ID = re.compile(r"^(LicenseRef-[A-Za-z0-9.-]+|[A-Za-z0-9][A-Za-z0-9.+-]*)$")
OPERATORS = {"AND", "OR", "WITH"}


class LicenceSyntaxError(ValueError):
    """A licence expression that does not parse."""


# --- Reading licence names ------------------------------------------------------------------


def _alias_key(text: str) -> str:
    text = re.sub(r"\blicen[cs]e,? version\b", "license", text.lower())
    return re.sub(r"[\s,]+", " ", text).strip(" .")


def known_id(identifier: str) -> bool:
    """Say whether this check has a rule for the SPDX identifier."""
    base = identifier.removesuffix("+")
    return (
        base in PERMISSIVE
        or base in WEAK_COPYLEFT
        or base in INCOMPATIBLE
        or base.startswith(WEAK_COPYLEFT_PREFIXES + INCOMPATIBLE_PREFIXES)
        or base in LINKING_EXCEPTIONS
    )


def normalise(text: str | None) -> str:
    """Return the licence the text names as an SPDX expression, or UNKNOWN."""
    text = (text or "").strip()
    if _alias_key(text) in UNINFORMATIVE:
        return UNKNOWN
    if (alias := ALIASES.get(_alias_key(text))) is not None:
        return alias
    if _is_spdx_expression(text):
        return text
    if "\n" in text or len(text) > 80:
        return _from_licence_text(text)
    # pip-licenses joins several classifiers with "; ": each is a licence the package is under.
    for separator in ("; ", " / ", " and ", " or "):
        if separator in text.lower():
            parts = re.split(re.escape(separator), text, flags=re.IGNORECASE)
            names = [normalise(part) for part in parts if _alias_key(part) not in UNINFORMATIVE]
            if names and UNKNOWN not in names:
                joiner = " OR " if separator == " or " else " AND "
                return joiner.join(f"({n})" if " " in n else n for n in dict.fromkeys(names))
    return UNKNOWN


def _from_licence_text(text: str) -> str:
    first_line = next(line for line in text.splitlines() if line.strip())
    if (alias := ALIASES.get(_alias_key(first_line))) is not None:
        return alias
    lowered = " ".join(text.lower().split())
    for phrase, identifier in TEXT_SIGNATURES:
        if phrase in lowered:
            return identifier
    return UNKNOWN


def _is_spdx_expression(text: str) -> bool:
    try:
        identifiers = _identifiers(text)
    except LicenceSyntaxError:
        return False
    return bool(identifiers) and all(known_id(identifier) for identifier in identifiers)


def _identifiers(expression: str) -> list[str]:
    tokens = _tokens(expression)
    _Parser(tokens).parse()
    return [t for t in tokens if t not in OPERATORS and t not in "()"]


def _tokens(expression: str) -> list[str]:
    tokens = SPDX_TOKEN.findall(expression)
    if "".join(tokens) != re.sub(r"\s+", "", expression):
        raise LicenceSyntaxError(f"not a licence expression: {expression!r}")
    return [t.upper() if t.upper() in OPERATORS else t for t in tokens]


# --- Judging an expression ----------------------------------------------------------------------


def licence_verdict(identifier: str, exception: str | None = None) -> Verdict:
    """Return how code under one SPDX licence (and exception) stands for distribution with ours."""
    base = identifier.removesuffix("+")
    if base in PERMISSIVE:
        return Verdict.OK
    if base in WEAK_COPYLEFT or base.startswith(WEAK_COPYLEFT_PREFIXES):
        return Verdict.REVIEW
    if base in INCOMPATIBLE or base.startswith(INCOMPATIBLE_PREFIXES):
        # "GPL-2.0 WITH Classpath-exception-2.0" lets code that merely links keep its licence.
        return Verdict.REVIEW if exception in LINKING_EXCEPTIONS else Verdict.INCOMPATIBLE
    return Verdict.UNKNOWN


def expression_verdict(expression: str) -> Verdict:
    """Return an SPDX expression's verdict: the best choice of an OR, the worst part of an AND."""
    if expression == UNKNOWN:
        return Verdict.UNKNOWN
    try:
        return _Parser(_tokens(expression)).parse()
    except LicenceSyntaxError:
        return Verdict.UNKNOWN


class _Parser:
    """A recursive-descent reader of SPDX expressions: OR binds loosest, then AND, then WITH."""

    def __init__(self, tokens: list[str]):
        self.tokens = tokens
        self.at = 0

    def parse(self) -> Verdict:
        verdict = self._any_of()
        if self.at != len(self.tokens):
            raise LicenceSyntaxError(f"unexpected {self.tokens[self.at]!r}")
        return verdict

    def _peek(self) -> str | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def _take(self) -> str:
        if self.at >= len(self.tokens):
            raise LicenceSyntaxError("the expression ends too soon")
        self.at += 1
        return self.tokens[self.at - 1]

    def _any_of(self) -> Verdict:
        verdicts = [self._all_of()]
        while self._peek() == "OR":
            self._take()
            verdicts.append(self._all_of())
        return min(verdicts)

    def _all_of(self) -> Verdict:
        verdicts = [self._one()]
        while self._peek() == "AND":
            self._take()
            verdicts.append(self._one())
        return max(verdicts)

    def _one(self) -> Verdict:
        token = self._take()
        if token == "(":
            verdict = self._any_of()
            if self._take() != ")":
                raise LicenceSyntaxError("a parenthesis is not closed")
            return verdict
        if token in OPERATORS or token == ")" or not SPDX_ID.match(token):
            raise LicenceSyntaxError(f"unexpected {token!r}")
        exception = None
        if self._peek() == "WITH":
            self._take()
            exception = self._take()
        return licence_verdict(token, exception)


# --- Dependencies and exceptions ----------------------------------------------------------------


@dataclass(frozen=True)
class Dependency:
    """One installed package and its licence."""

    ecosystem: str  # "python" or "npm"
    name: str
    version: str
    scope: str  # "runtime", "dev" or "not required"
    reported: str  # what the package's metadata says, shortened
    licence: str  # the SPDX expression read from it, or UNKNOWN

    @property
    def verdict(self) -> Verdict:
        return expression_verdict(self.licence)

    @property
    def key(self) -> tuple[str, str]:
        return self.ecosystem, canonical_name(self.name)


@dataclass(frozen=True)
class LicenceException:
    """A reviewed decision that one package may ship under the licence the check reads for it."""

    ecosystem: str
    package: str
    licence: str
    reason: str
    reviewed_by: str
    reviewed_on: datetime.date

    @property
    def key(self) -> tuple[str, str]:
        return self.ecosystem, canonical_name(self.package)


@dataclass
class Report:
    """The check's outcome: every dependency, what failed, and exceptions that match nothing."""

    dependencies: list[Dependency]
    exceptions: list[LicenceException]
    failures: list[Dependency] = field(default_factory=list)
    excepted: list[Dependency] = field(default_factory=list)
    stale: list[LicenceException] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures and not self.stale


class ExceptionsFileError(ValueError):
    """licences-allowed.toml says something the check cannot use."""


def canonical_name(name: str) -> str:
    """Return a package name as its registry compares it (PEP 503 for Python)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def exceptions_load(path: Path = EXCEPTIONS_PATH) -> list[LicenceException]:
    """Read and check the reviewed exceptions."""
    if not path.exists():
        return []
    with path.open("rb") as handle:
        data = tomllib.load(handle)
    exceptions = []
    for number, item in enumerate(data.get("exception", []), start=1):
        where = f"{path.name}, exception {number} ({item.get('package', '?')})"
        missing = [
            name
            for name in ("ecosystem", "package", "licence", "reason", "reviewed_by", "reviewed_on")
            if not str(item.get(name, "")).strip()
        ]
        if missing:
            raise ExceptionsFileError(f"{where}: missing {', '.join(missing)}.")
        if item["ecosystem"] not in ("python", "npm"):
            raise ExceptionsFileError(f"{where}: ecosystem must be 'python' or 'npm'.")
        if not isinstance(item["reviewed_on"], datetime.date):
            raise ExceptionsFileError(f"{where}: reviewed_on must be a date (2026-12-05).")
        if (normalised := normalise(item["licence"])) != item["licence"]:
            raise ExceptionsFileError(
                f"{where}: licence {item['licence']!r} is not as the check reports it "
                f"(write {normalised!r})."
            )
        fields = {name: item[name] for name in LicenceException.__annotations__}
        exceptions.append(LicenceException(**fields))
    return exceptions


def check(dependencies: Iterable[Dependency], exceptions: list[LicenceException]) -> Report:
    """Return the report: a dependency fails unless its licence is OK or an exception covers it."""
    report = Report(dependencies=sorted(dependencies, key=lambda d: (d.ecosystem, d.key)),
                    exceptions=exceptions)  # fmt: skip
    by_key = {exception.key: exception for exception in exceptions}
    used = set()
    for dependency in report.dependencies:
        if dependency.verdict is Verdict.OK:
            continue
        exception = by_key.get(dependency.key)
        if exception and exception.licence == dependency.licence:
            report.excepted.append(dependency)
            used.add(exception.key)
        else:
            report.failures.append(dependency)
    report.stale = [e for e in exceptions if e.key not in used]
    return report


# --- Reading what is installed ------------------------------------------------------------------


def requirement_names(path: Path) -> set[str]:
    """Return the canonical names a requirements file pins (not those of files it includes)."""
    names = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            names.add(canonical_name(re.split(r"[=<>!~\[; ]", line, maxsplit=1)[0]))
    return names


def python_dependencies(python: str = sys.executable) -> list[Dependency]:
    """Return every package installed for this interpreter, read by pip-licenses."""
    answer = _run([python, "-m", "piplicenses", "--format=json", "--from=all", "--with-system"],
                  what="pip-licenses", install="pip install -r requirements-dev.txt")  # fmt: skip
    runtime = requirement_names(REPO_DIR / "requirements.txt")
    dev = requirement_names(REPO_DIR / "requirements-dev.txt")
    dependencies = []
    for package in json.loads(answer):
        # PEP 639's expression is exact; classifiers are next best; the free-text field is last.
        candidates = [package.get(k) for k in ("License-Expression", "License-Classifier",
                                               "License-Metadata")]  # fmt: skip
        reported, licence = _first_readable(candidates)
        name = canonical_name(package["Name"])
        scope = "runtime" if name in runtime else "dev" if name in dev else "not required"
        dependencies.append(
            Dependency("python", package["Name"], package["Version"], scope, reported, licence)
        )
    return dependencies


def _first_readable(candidates: list[str | None]) -> tuple[str, str]:
    shown = ""
    for text in candidates:
        if _alias_key(text or "") in UNINFORMATIVE:
            continue
        shown = shown or _shortened(text)
        if (licence := normalise(text)) != UNKNOWN:
            return _shortened(text), licence
    return shown or UNKNOWN, UNKNOWN


def _shortened(text: str) -> str:
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return first if len(first) <= 60 and first == text.strip() else first[:57] + "..."


def npm_dependencies(repo_dir: Path = REPO_DIR) -> list[Dependency]:
    """Return every package in node_modules, read by license-checker-rseidelsohn."""
    checker = repo_dir / "node_modules" / ".bin" / "license-checker-rseidelsohn"
    if not checker.exists():
        raise RuntimeError(
            f"{checker.relative_to(repo_dir)} is missing: run `bash scripts/setup.sh` "
            "(its `npm ci` installs the devDependencies of package.json)."
        )
    answer = _run([str(checker), "--json", "--start", str(repo_dir)],
                  what="license-checker-rseidelsohn", install="npm ci")  # fmt: skip
    root = json.loads((repo_dir / "package.json").read_text(encoding="utf-8"))["name"]
    dev_flags = _npm_dev_flags(repo_dir)
    dependencies = []
    for key, info in json.loads(answer).items():
        name, _, version = key.rpartition("@")
        if name == root:
            continue
        reported = info.get("licenses") or UNKNOWN
        parts = reported if isinstance(reported, list) else [reported]
        # license-checker marks with "*" a licence it guessed from a LICENSE file's text.
        names = [normalise(str(part).removesuffix("*")) for part in parts]
        licence = UNKNOWN if UNKNOWN in names else " AND ".join(dict.fromkeys(names))
        scope = "dev" if dev_flags.get(key, False) else "runtime"
        shown = _shortened(", ".join(map(str, parts)))
        dependencies.append(Dependency("npm", name, version, scope, shown, licence))
    return dependencies


def _npm_dev_flags(repo_dir: Path) -> dict[str, bool]:
    """Return, per name@version, whether npm installed it only for development."""
    lock = json.loads((repo_dir / "node_modules" / ".package-lock.json").read_text("utf-8"))
    flags: dict[str, bool] = {}
    for path, entry in lock.get("packages", {}).items():
        if not path or "version" not in entry:
            continue
        key = f"{entry.get('name') or path.rpartition('node_modules/')[2]}@{entry['version']}"
        flags[key] = flags.get(key, True) and bool(entry.get("dev"))
    return flags


def _run(command: list[str], *, what: str, install: str) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    except FileNotFoundError:
        raise RuntimeError(f"{what} could not be started: run `{install}`.") from None
    if done.returncode != 0:
        raise RuntimeError(
            f"{what} failed (exit {done.returncode}): {done.stderr.strip()[-500:]}; "
            f"is it installed (`{install}`)?"
        )
    return done.stdout


# --- Saying it ------------------------------------------------------------------------------------


def table(report: Report) -> str:
    """Return every dependency as a fixed-width table, with what the check decided for each."""
    excepted = {d.key for d in report.excepted}
    rows = [("ecosystem", "package", "version", "scope", "licence (SPDX)", "as reported")]
    rows[0] += ("verdict",)
    for d in report.dependencies:
        verdict = "allowed by a reviewed exception" if d.key in excepted else d.verdict.label
        rows.append((d.ecosystem, d.name, d.version, d.scope, d.licence, d.reported, verdict))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
             for row in rows]  # fmt: skip
    lines.insert(1, "  ".join("-" * w for w in widths))
    counts = {
        ecosystem: sum(d.ecosystem == ecosystem for d in report.dependencies)
        for ecosystem in ("python", "npm")
    }
    summary = (
        f"{counts['python']} Python and {counts['npm']} npm packages; "
        f"{len(report.excepted)} allowed by reviewed exceptions ({EXCEPTIONS_PATH.name}); "
        f"{len(report.failures)} failing; {len(report.stale)} stale exceptions."
    )
    return "\n".join([summary, "", *lines, ""])


def failure_message(report: Report, table_path: Path | None = TABLE_PATH) -> str:
    """Return what failed and what to do about it."""
    parts = []
    if report.failures:
        parts.append(
            f"{len(report.failures)} dependencies have a licence that may not be distributed with "
            "this Apache-2.0 project without a review:"
        )
        for d in report.failures:
            as_reported = "" if d.reported == d.licence else f' (reported as "{d.reported}")'
            parts.append(
                f"  {d.ecosystem} {d.name} {d.version} ({d.scope}): "
                f"{d.licence}{as_reported}: {d.verdict.label}"
            )
        first = report.failures[0]
        parts += [
            "Replace the package with one under a permissive licence, or, once someone has read "
            "its licence and decided that it may ship, add a reviewed exception to "
            f"{EXCEPTIONS_PATH.name} (docs/licences.md):",
            "  [[exception]]",
            f'  ecosystem = "{first.ecosystem}"',
            f'  package = "{first.name}"',
            f'  licence = "{first.licence}"',
            '  reason = "why it may ship: how it is used, what its licence then obliges"',
            '  reviewed_by = "who read the licence"',
            f"  reviewed_on = {datetime.date.today().isoformat()}",
        ]
        if first.licence == UNKNOWN:
            parts.append(
                "  (a package whose metadata names no licence: read its LICENSE file, and write "
                'the exception for licence = "UNKNOWN" with the licence you found in the reason)'
            )
    for exception in report.stale:
        parts.append(
            f"{EXCEPTIONS_PATH.name}: the exception for {exception.ecosystem} package "
            f"{exception.package!r} ({exception.licence}) matches no installed package that needs "
            "it: remove it, or review the package's new licence and update it."
        )
    if table_path:
        inside = table_path.is_relative_to(REPO_DIR)
        shown = table_path.relative_to(REPO_DIR) if inside else table_path
        parts.append(f"All dependencies and their licences: {shown}")
    return "\n".join(parts)


def main() -> None:
    """List every dependency's licence, write the table, and exit 1 when one fails."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=TABLE_PATH, help="where to write the table")
    arguments = parser.parse_args()
    report = check([*python_dependencies(), *npm_dependencies()], exceptions_load())
    arguments.out.parent.mkdir(parents=True, exist_ok=True)
    arguments.out.write_text(table(report), encoding="utf-8")
    print(table(report))
    if not report.ok:
        sys.exit(failure_message(report, arguments.out.resolve()))


if __name__ == "__main__":
    main()
