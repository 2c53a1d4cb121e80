"""Executes a notebook of docs/notebooks with nbclient on the venv's own `python3` kernel and
prints what the tests check, as JSON.

usage: run_notebook.py NOTEBOOK OUT.ipynb

The notebook reads its parameters from the environment (CIVICPULSE_LAKE, …), which the kernel
inherits. It runs in the notebook's own folder, as Jupyter would run it. A cell that raises
fails the run (nbclient's CellExecutionError names the cell and the error). The executed
notebook is written to OUT.ipynb for a person to look at.

Prints {"cells": n, "executed": n, "errors": [...], "warnings": [...], "images": n,
"summary": {...}}: `summary` is the JSON
printed by the cell tagged `summary`, `images` the number of PNG outputs (the charts).
"""
import json
import os
import sys

import nbformat
from nbclient import NotebookClient


def main() -> None:
    source, out = sys.argv[1], sys.argv[2]
    nb = nbformat.read(source, as_version=4)
    client = NotebookClient(
        nb,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": os.path.dirname(os.path.abspath(source))}},
    )
    try:
        client.execute()
    finally:
        nbformat.write(nb, out)
    cells = [c for c in nb.cells if c.cell_type == "code"]
    errors = [o for c in cells for o in c.get("outputs", []) if o.output_type == "error"]
    # Warnings a reader would see under a cell (a chart's missing glyphs, deprecations).
    warnings = [
        o.text
        for c in cells
        for o in c.get("outputs", [])
        if o.output_type == "stream" and o.name == "stderr" and "Warning" in o.text
    ]
    images = sum(
        1 for c in cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})
    )
    summary = None
    for cell in cells:
        if "summary" in cell.metadata.get("tags", []):
            text = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
            summary = json.loads(text)
    json.dump(
        {
            "cells": len(cells),
            "executed": sum(1 for c in cells if c.get("execution_count")),
            "errors": [f"{e.ename}: {e.evalue}" for e in errors],
            "warnings": warnings,
            "images": images,
            "summary": summary,
        },
        sys.stdout,
        ensure_ascii=False,
    )


if __name__ == "__main__":
    main()
