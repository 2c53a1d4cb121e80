"""Runs SQL statements one by one through psycopg 3 and prints what each did, as JSON.

usage: pg_run.py DSN STATEMENTS.json [--simple] [--timeout SECONDS]

STATEMENTS.json is a JSON list of SQL texts. By default each is sent with the extended query
protocol (Parse/Bind/Execute, as JDBC and psycopg do); `--simple` sends it as one simple Query
message (psycopg's ClientCursor, as psql does). The output is a list, one object per statement:
`{"ok": bool, "error": str|null, "sqlstate": str|null, "rows": [[str|null, ...]] (first 20)}`.
A statement that breaks the connection gets a new one for the next; one that gets no answer
within `--timeout` seconds (default 60) is reported as such and its connection abandoned.
"""
import json
import os
import signal
import sys

import psycopg


class NoAnswer(Exception):
    pass


def on_alarm(_signum, _frame):
    raise NoAnswer()


def text(value):
    return None if value is None else str(value)


def connect(dsn):
    return psycopg.connect(dsn, autocommit=True, connect_timeout=10)


def main() -> None:
    dsn, path = sys.argv[1], sys.argv[2]
    simple = "--simple" in sys.argv
    timeout = int(sys.argv[sys.argv.index("--timeout") + 1]) if "--timeout" in sys.argv else 60
    signal.signal(signal.SIGALRM, on_alarm)
    with open(path, encoding="utf-8") as f:
        statements = json.load(f)
    out = []
    conn = None
    for sql in statements:
        result = {"ok": False, "error": None, "sqlstate": None, "rows": []}
        signal.alarm(timeout)
        try:
            if conn is None or conn.closed or conn.broken:
                conn = connect(dsn)
            cur = psycopg.ClientCursor(conn) if simple else conn.cursor()
            cur.execute(sql)
            if cur.description is not None:
                result["rows"] = [[text(v) for v in row] for row in cur.fetchmany(20)]
            result["ok"] = True
        except NoAnswer:
            result["error"] = f"no answer within {timeout} s"
            conn = None  # abandoned: its socket closes when the process ends
        except psycopg.Error as e:
            result["error"] = str(e).strip() or type(e).__name__
            result["sqlstate"] = getattr(e, "sqlstate", None)
        except Exception as e:  # noqa: BLE001 - report anything the client raised
            result["error"] = f"{type(e).__name__}: {e}"
        finally:
            signal.alarm(0)
        out.append(result)
    if conn is not None and not conn.closed:
        try:
            conn.close()
        except psycopg.Error:
            pass
    json.dump(out, sys.stdout, ensure_ascii=False)


if __name__ == "__main__":
    main()
    # Skip interpreter teardown: Arrow's native thread pools can abort there (delta-rs #2184).
    sys.stdout.flush()
    os._exit(0)
