"""Bad FHIR input as a typed exception, and the OperationOutcome the HTTP layer answers with.

The diagnostics name the fault and its place, never the offending value: a value may
be report text, and report text must not reach logs or error bodies.
"""

from __future__ import annotations

import html
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

IssueCode = Literal["required", "value", "invalid", "structure", "not-supported", "not-found", "processing",
                   "exception", "business-rule"]
Severity = Literal["fatal", "error", "warning", "information"]


class Issue(BaseModel):
    """One OperationOutcome.issue: what is wrong and where (a FHIRPath-like expression)."""

    model_config = ConfigDict(frozen=True)

    severity: Severity = "error"
    code: IssueCode = "invalid"
    expression: str | None = Field(default=None, description="e.g. 'DiagnosticReport.presentedForm[0].data'")
    diagnostics: str

    def as_fhir(self) -> dict[str, Any]:
        out: dict[str, Any] = {"severity": self.severity, "code": self.code, "diagnostics": self.diagnostics}
        if self.expression:
            out["expression"] = [self.expression]
        return out


class FhirInputError(ValueError):
    """A resource we cannot read as a radiology report; `.issues` says why and where."""

    def __init__(self, issues: list[Issue] | Issue | str, code: IssueCode = "invalid") -> None:
        self.issues: list[Issue] = _issues(issues, code)
        super().__init__("; ".join(_describe(i) for i in self.issues))

    def operation_outcome(self) -> dict[str, Any]:
        return operation_outcome(self.issues)


def _describe(issue: Issue) -> str:
    return f"{issue.expression}: {issue.diagnostics}" if issue.expression else issue.diagnostics


def _issues(issues: list[Issue] | Issue | str, code: IssueCode) -> list[Issue]:
    if isinstance(issues, str):
        return [Issue(code=code, diagnostics=issues)]
    if isinstance(issues, Issue):
        return [issues]
    return list(issues) or [Issue(code=code, diagnostics="invalid input")]


def operation_outcome(issues: list[Issue] | Issue | str, code: IssueCode = "invalid") -> dict[str, Any]:
    """A valid FHIR R4 OperationOutcome dict (with a short narrative, so dom-6 holds)."""
    items = _issues(issues, code)
    rows = "".join(f"<li>{html.escape(_describe(i))}</li>" for i in items)
    return {
        "resourceType": "OperationOutcome",
        "text": {"status": "generated", "div": f'<div xmlns="http://www.w3.org/1999/xhtml"><ul>{rows}</ul></div>'},
        "issue": [i.as_fhir() for i in items],
    }
