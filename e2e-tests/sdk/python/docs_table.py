"""The scenario × SDK table of docs/sdks.md, written from the scenarios'
expectations (what the suite asserts), between two marker comments."""

from __future__ import annotations

from scenarios import SDK_TITLES, SDKS, VARIANTS, Fails, Ok

BEGIN = "<!-- sdk-table:begin (written by `make sdk-test SDK_WRITE_DOCS=1` from e2e-tests/sdk/python/scenarios.py) -->"
END = "<!-- sdk-table:end -->"


def cell(outcome) -> str:
    if outcome is None:
        return "—"
    region = next((f" ({use.replace('region', 'region from IMDS')})" for use in outcome.imds
                   if use.startswith("region")), "")
    if isinstance(outcome, Ok) and outcome.via == "static":
        return f"⚠ `{outcome.host}`, as the IAM user, not the role (the policy warns)"
    if isinstance(outcome, Ok) and outcome.via == "imds":
        after = f"after {outcome.after.code or 'no credentials'}, " if outcome.after else ""
        return f"⚠ {after}**the node's role** (IMDS), `{outcome.host}`{region}"
    if isinstance(outcome, Ok):
        via = f" (agent {outcome.agent})" if outcome.via == "agent" else ""
        return f"✓ `{outcome.host}`{via}{region}"
    return f"✗ {outcome.code + ': ' if outcome.code else ''}“{outcome.message}”{region}"


def cells(expect: dict, ran: dict | None = None) -> list[str]:
    """One cell per SDK column; a variant probe (Java v2 without sts) fills its SDK's column. In a
    row that reruns the case (`ran`: what ran first), an SDK left out had the same outcome."""
    row = []
    for sdk in SDKS:
        probe = next((p for p in (sdk, *(v for v, column in VARIANTS.items() if column == sdk))
                      if p in (ran or expect)), None)
        if probe is None:
            row.append("—")
        elif probe not in expect:
            row.append("same")
        else:
            row.append(cell(expect[probe]))
    return row


def render(cases) -> str:
    lines = ["| scenario | " + " | ".join(SDK_TITLES[s] for s in SDKS) + " |",
             "|---|" + "---|" * len(SDKS)]
    for case in cases:
        if case.row is not None:
            continue
        if case.rejected is not None:
            lines.append(f"| {case.name} | " + " | ".join(["rejected by the policy"] * len(SDKS)) + " |")
            continue
        lines.append(f"| {case.name} | " + " | ".join(cells(case.expect)) + " |")
        if case.imds_off:
            lines.append(f"| {case.name}, IMDS off | " + " | ".join(cells(case.imds_off, case.expect)) + " |")
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
