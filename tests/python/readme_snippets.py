"""Runs the Python snippets of the README's analysts' section against a lake and checks them:
the README cannot drift from what the tools really do.

usage: readme_snippets.py README HOTLINE_TRUTH PROGRAMME_TRUTH

Run in a directory whose `./lake` is a citysim lake (the snippets say `LAKE = "./lake"`, as a
user in the repository would). HOTLINE_TRUTH and PROGRAMME_TRUTH are citysim's `--truth` files
of the runs that landed the hotline and the facility/renovation streams.

The ```python blocks of the section run in order in one namespace, like notebook cells. A
```text block right after a python block is output the README shows: each of its lines must
be printed by that block, in that order (spacing aside). Then the values the snippets leave
behind are checked against the lake and the truth (`check`). Prints a JSON report; exits 1
with every failure listed.
"""
import contextlib
import io
import json
import os
import re
import sys
import traceback

SECTION = "## Analysts: the lake in notebooks"
DISTRICT = "110108"


def section(readme: str) -> str:
    start = readme.index(SECTION)
    end = readme.find("\n## ", start + len(SECTION))
    return readme[start : end if end >= 0 else len(readme)]


def blocks(text: str) -> list[tuple[str, str]]:
    """Fenced blocks as (language, body), in order."""
    return [(m.group(1), m.group(2)) for m in re.finditer(r"```(\w*)\n(.*?)```", text, re.S)]


def normal(line: str) -> str:
    return " ".join(line.split())


def shown_lines_missing(shown: str, printed: str) -> list[str]:
    """Lines of `shown` not printed, in order, as lines of `printed`."""
    lines = [normal(l) for l in printed.splitlines()]
    at, missing = 0, []
    for want in (normal(l) for l in shown.splitlines()):
        if not want:
            continue
        try:
            at = lines.index(want, at) + 1
        except ValueError:
            missing.append(want)
    return missing


def check(ns: dict, hotline: dict, programme: dict, failures: list[str]) -> dict:
    """What the snippets computed, against the truth of the lake they read."""
    import duckdb
    import pandas as pd
    from deltalake import DeltaTable

    def expect(ok: bool, what: str) -> None:
        if not ok:
            failures.append(what)

    h = hotline["districts"][DISTRICT]["period"]
    p = programme["districts"][DISTRICT]["period"]
    tickets, per_day = ns["tickets"], ns["per_day"]
    expect(len(tickets) > 0, "pandas: no tickets")
    expect(set(tickets["district"]) == {DISTRICT}, "pandas: the district filter let others in")
    expect(
        isinstance(tickets["received_time"].dtype, pd.DatetimeTZDtype)
        and str(tickets["received_time"].dt.tz) == "UTC",
        f"pandas: received_time is {tickets['received_time'].dtype}",
    )
    expect(
        int(per_day.sum()) == h["hotline_tickets_received"],
        f"pandas: {per_day.sum()} requests, truth {h['hotline_tickets_received']}",
    )
    elevators = ns["events"]["elevators_count_max"].to_pylist()
    expect(
        sum(v or 0 for v in elevators) == p["elevators_completed"],
        f"pyarrow: {sum(v or 0 for v in elevators)} elevators, truth {p['elevators_completed']}",
    )
    openings = ns["openings"]
    expect(
        openings["opened"].sum() == p["facilities_created"],
        f"polars: {openings['opened'].sum()} openings, truth {p['facilities_created']}",
    )
    con = ns["con"]
    counts = {}
    for name in ("hotline_tickets", "facility_changes", "renovation_progress"):
        ours = con.execute(f"SELECT count(*) FROM {name}").fetchall()[0][0]
        delta = DeltaTable(os.path.join(ns["LAKE"], name)).to_pyarrow_table(columns=["event_id"])
        counts[name] = ours
        expect(ours == delta.num_rows, f"DuckDB: {name} has {ours} rows, deltalake {delta.num_rows}")
    # As a DataFrame: fetchall() would want pytz for the TIMESTAMP WITH TIME ZONE column.
    top = list(ns["top"].df().itertuples(index=False))
    expect(len(top) == 3, f"DuckDB: {len(top)} categories")
    by_category = (
        ns["created"].groupby("category_l1").ticket_id.nunique().sort_values(ascending=False)
    )
    expect(
        all(by_category.get(c) == n for c, n, *_ in top)
        and [n for _, n, *_ in top] == by_category.head(3).tolist(),
        f"DuckDB's top categories {top} differ from pandas' {by_category.head(3).to_dict()}",
    )
    expect(isinstance(con, duckdb.DuckDBPyConnection), "DuckDB: con is not a connection")
    return {
        "tickets": len(tickets),
        "requests": int(per_day.sum()),
        "elevators": sum(v or 0 for v in elevators),
        "openings": int(openings["opened"].sum()),
        "duckdb_rows": counts,
    }


def main() -> None:
    readme_path, hotline_path, programme_path = sys.argv[1:4]
    with open(readme_path, encoding="utf-8") as f:
        found = blocks(section(f.read()))
    with open(hotline_path, encoding="utf-8") as f:
        hotline = json.load(f)
    with open(programme_path, encoding="utf-8") as f:
        programme = json.load(f)
    namespace: dict = {"__name__": "__readme__"}
    failures: list[str] = []
    ran, shown_checked = 0, 0
    for i, (lang, body) in enumerate(found):
        if lang != "python":
            continue
        printed = io.StringIO()
        try:
            with contextlib.redirect_stdout(printed):
                exec(compile(body, f"README python block {ran + 1}", "exec"), namespace)
        except Exception:
            failures.append(f"python block {ran + 1} failed:\n{body}\n{traceback.format_exc()}")
            break
        ran += 1
        if i + 1 < len(found) and found[i + 1][0] == "text":
            shown_checked += 1
            missing = shown_lines_missing(found[i + 1][1], printed.getvalue())
            if missing:
                failures.append(
                    f"python block {ran} did not print {missing}; it printed:\n{printed.getvalue()}"
                )
    report = {"python_blocks": ran, "outputs_checked": shown_checked}
    if not failures:
        try:
            report.update(check(namespace, hotline, programme, failures))
        except Exception:
            failures.append(f"checking the snippets' values failed:\n{traceback.format_exc()}")
    report["failures"] = failures
    json.dump(report, sys.stdout, ensure_ascii=False, indent=1)
    sys.stdout.flush()
    # Skip interpreter teardown: Arrow's native thread pools can abort there (delta-rs #2184).
    os._exit(1 if failures else 0)


if __name__ == "__main__":
    main()
