"""Validates every line of citysim's `<topic>.jsonl` files against the JSON Schemas of `schemas/`.

usage: validate_jsonl.py SCHEMAS_DIR JSONL_DIR
Prints JSON {topic: {"lines": n, "invalid": n, "first_error": str|null}}.
"""
import json
import os
import sys

from jsonschema import Draft202012Validator

SCHEMAS = {
    "hotline.tickets": "hotline_ticket.v1.json",
    "facility.changes": "facility_change.v1.json",
    "renovation.progress": "renovation_progress.v1.json",
}


def main() -> None:
    schemas, data = sys.argv[1], sys.argv[2]
    out = {}
    for topic, schema_file in SCHEMAS.items():
        path = os.path.join(data, f"{topic}.jsonl")
        if not os.path.exists(path):
            continue
        with open(os.path.join(schemas, schema_file), encoding="utf-8") as f:
            validator = Draft202012Validator(json.load(f))
        lines = invalid = 0
        first = None
        with open(path, encoding="utf-8") as f:
            for line in f:
                lines += 1
                error = next(iter(validator.iter_errors(json.loads(line))), None)
                if error is not None:
                    invalid += 1
                    first = first or f"line {lines}: {error.json_path}: {error.message}"
        out[topic] = {"lines": lines, "invalid": invalid, "first_error": first}
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
    # Skip interpreter teardown: Arrow's native thread pools can abort there (delta-rs #2184).
    sys.stdout.flush()
    os._exit(0)
