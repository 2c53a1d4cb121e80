"""Scans every string value of a civicpulse Delta table for personal data (tests/tests/pii.rs).

usage: pii_scan.py TABLE SECRETS_JSON KEPT_JSON

Each value of every string or list-of-string column is NFKC-folded, upper-cased and stripped of
separators before each secret (folded the same way) is searched in it, so a secret written with
spaces, dashes or full-width digits, or only partly masked, is still found. Prints a JSON summary:
rows, the scanned columns, hits (column, ticket, secret), the `content` values that lost a KEPT
string, and each ticket's caller_hash.
"""
import json
import os
import re
import sys
import unicodedata

import pyarrow as pa
from deltalake import DeltaTable

SEPARATORS = re.compile(r"[\s\-\.\(\)\[\]（）【】·•・+_/\\,，、:：;；'\"]+")


def fold(text: str) -> str:
    return SEPARATORS.sub("", unicodedata.normalize("NFKC", text).upper())


def is_text(t: pa.DataType) -> bool:
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return True
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return is_text(t.value_type)
    return False


def values(cell):
    if cell is None:
        return []
    if isinstance(cell, list):
        return [v for v in cell if v is not None]
    return [cell]


def main() -> None:
    path, secrets, kept = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
    table = DeltaTable(path).to_pyarrow_table()
    columns = [f.name for f in table.schema if is_text(f.type)]
    folded = {s: fold(s) for s in secrets}
    tickets = table["ticket_id"].to_pylist()
    hits = []
    for name in columns:
        for ticket, cell in zip(tickets, table[name].to_pylist()):
            for value in values(cell):
                text = fold(value)
                for secret, key in folded.items():
                    if key in text:
                        hits.append({"column": name, "ticket_id": ticket, "secret": secret})
    kept_missing = [
        {"ticket_id": t, "missing": k}
        for t, content in zip(tickets, table["content"].to_pylist())
        if content is not None and not content.startswith("1 1 1")
        for k in kept
        if k not in content
    ]
    json.dump(
        {
            "rows": table.num_rows,
            "string_columns": columns,
            "hits": hits,
            "kept_missing": kept_missing,
            "caller_hash": dict(zip(tickets, table["caller_hash"].to_pylist())),
        },
        sys.stdout,
        ensure_ascii=False,
    )
    # Skip interpreter teardown: Arrow's native thread pools can abort there (delta-rs #2184).
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
