"""The scenario × SDK table of docs/sdks.md, written from the scenarios'
expectations (what the suite asserts), between two marker comments."""

from __future__ import annotations

from scenarios import SDK_TITLES, SDKS, Fails, Ok

BEGIN = "<!-- sdk-table:begin (written by `make sdk-test SDK_WRITE_DOCS=1` from e2e-tests/sdk/python/scenarios.py) -->"
END = "<!-- sdk-table:end -->"


def cell(outcome) -> str:
    if isinstance(outcome, Ok) and outcome.via == "static":
        return f"⚠ `{outcome.host}`, as the IAM user, not the role (the policy warns)"
    if isinstance(outcome, Ok):
        via = f" (agent {outcome.agent})" if outcome.via == "agent" else ""
        return f"✓ `{outcome.host}`{via}"
    return f"✗ {outcome.code + ': ' if outcome.code else ''}“{outcome.message}”"


def render(cases) -> str:
    lines = ["| scenario | " + " | ".join(SDK_TITLES[s] for s in SDKS) + " |",
             "|---|" + "---|" * len(SDKS)]
    for case in cases:
        if case.row is not None:
            continue
        if case.rejected is not None:
            lines.append(f"| {case.name} | " + " | ".join(["rejected by the policy"] * len(SDKS)) + " |")
            continue
        lines.append(f"| {case.name} | " + " | ".join(cell(case.expect[s]) for s in SDKS) + " |")
    return "\n".join(lines)


def check_or_write(path: str, table: str, write: bool) -> list[str]:
    try:
        with open(path) as page:
            text = page.read()
    except OSError as error:
        return [f"cannot read {path}: {error}"]
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        return [f"{path} lacks the markers {BEGIN!r} ... {END!r}"]
    current = text[start + len(BEGIN):end].strip()
    if current == table:
        return []
    if write:
        with open(path, "w") as page:
            page.write(text[:start + len(BEGIN)] + "\n" + table + "\n" + text[end:])
        return []
    return [f"{path}'s table differs from the scenarios: run `make sdk-test SDK_WRITE_DOCS=1` and read the diff"]
