"""The hostile SQL suite over psycopg's extended protocol, and a cancel request; JSON out.

usage: hostile_pg.py DSN STATEMENTS.json [--timeout SECONDS]
       hostile_pg.py DSN --cancel SQL [--after SECONDS]

The first form prepares each statement server-side (`prepare=True`: a named Parse, then
Bind/Describe/Execute, as JDBC drivers do) and prints one object per statement, as pg_run.py
does. The second runs SQL, sends a cancel request (`conn.cancel()`) after SECONDS (default 1),
then runs `SELECT 1` on a new connection, and prints
`{"error", "sqlstate", "elapsed", "after_ok", "after_elapsed"}`.
"""
import json
import os
import signal
import sys
import threading
import time

import psycopg

from pg_run import NoAnswer, connect, on_alarm, text


def run_statements(dsn, path, timeout):
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
            cur = conn.cursor()
            cur.execute(sql, prepare=True)
            if cur.description is not None:
                result["rows"] = [[text(v) for v in row] for row in cur.fetchmany(20)]
            result["ok"] = True
        except NoAnswer:
            result["error"] = f"no answer within {timeout} s"
            conn = None
        except psycopg.Error as e:
            result["error"] = str(e).strip() or type(e).__name__
            result["sqlstate"] = getattr(e, "sqlstate", None)
        except Exception as e:  # noqa: BLE001 - report anything the client raised
            result["error"] = f"{type(e).__name__}: {e}"
        finally:
            signal.alarm(0)
        out.append(result)
    return out


def cancel(dsn, sql, after, timeout):
    result = {"error": None, "sqlstate": None, "elapsed": None}
    conn = connect(dsn)
    threading.Timer(after, conn.cancel).start()
    started = time.monotonic()
    signal.alarm(timeout)
    try:
        conn.execute(sql, prepare=True).fetchall()
    except NoAnswer:
        result["error"] = f"no answer within {timeout} s"
    except psycopg.Error as e:
        result["error"] = str(e).strip() or type(e).__name__
        result["sqlstate"] = getattr(e, "sqlstate", None)
    finally:
        signal.alarm(0)
    result["elapsed"] = time.monotonic() - started
    started = time.monotonic()
    signal.alarm(timeout)
    try:
        with connect(dsn) as again:
            result["after_ok"] = again.execute("SELECT 1").fetchone()[0] == 1
    except (NoAnswer, psycopg.Error) as e:
        result["after_ok"] = False
        result["after_error"] = str(e)
    finally:
        signal.alarm(0)
    result["after_elapsed"] = time.monotonic() - started
    return result


def main() -> None:
    dsn = sys.argv[1]
    timeout = int(sys.argv[sys.argv.index("--timeout") + 1]) if "--timeout" in sys.argv else 60
    signal.signal(signal.SIGALRM, on_alarm)
    if "--cancel" in sys.argv:
        sql = sys.argv[sys.argv.index("--cancel") + 1]
        after = float(sys.argv[sys.argv.index("--after") + 1]) if "--after" in sys.argv else 1.0
        out = cancel(dsn, sql, after, timeout)
    else:
        out = run_statements(dsn, sys.argv[2], timeout)
    json.dump(out, sys.stdout, ensure_ascii=False)


if __name__ == "__main__":
    main()
    # Skip interpreter teardown: Arrow's native thread pools can abort there (delta-rs #2184).
    sys.stdout.flush()
    os._exit(0)
