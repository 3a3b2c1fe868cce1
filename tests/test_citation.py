"""CITATION.cff and CHANGELOG.md name the version the package reports (bnbench/version.py)."""

from __future__ import annotations

import re

from typer.testing import CliRunner

from bnbench.cli import app
from tests.conftest import REPO


def _version() -> str:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    return result.output.split()[-1]


def test_the_citation_names_the_package_version():
    text = (REPO / "CITATION.cff").read_text(encoding="utf-8")
    assert re.search(r"^cff-version: 1\.2\.0$", text, re.MULTILINE)
    assert re.findall(r'^version: "([^"]+)"$', text, re.MULTILINE) == [_version()]


def test_the_changelog_starts_with_the_package_version():
    headings = re.findall(r"^## (\S+)", (REPO / "CHANGELOG.md").read_text(encoding="utf-8"), re.MULTILINE)
    assert headings and headings[0] == _version()
