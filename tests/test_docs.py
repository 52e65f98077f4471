"""Docs are part of the product: every setting and command is documented."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from plugin.cli import app
from plugin.settings import Settings

REPO = Path(__file__).resolve().parents[1]


def test_every_setting_is_documented_with_a_description() -> None:
    page = (REPO / "docs" / "settings.md").read_text()
    for name, field in Settings.model_fields.items():
        assert f"RADLITE_{name.upper()}" in page, name
        assert field.description, f"{name} has no description"


def test_every_command_is_in_the_readme() -> None:
    readme = (REPO / "README.md").read_text()
    for command in ("serve", "analyze", "eval", "db upgrade", "audit verify", "models list"):
        assert f"radlite {command}" in readme, command


def test_readme_starts_with_the_two_setup_commands() -> None:
    head = (REPO / "README.md").read_text().split("## Try it")[0]
    assert "bash .ci/setup && .venv/bin/radlite serve" in head
    assert "\nbash .ci/test\n" in head
    assert "bash .ci/test" in (REPO / ".ci" / "run").read_text()


def test_cli_help_lists_the_commands() -> None:
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("serve", "analyze", "eval", "db", "models"):
        assert command in result.output
