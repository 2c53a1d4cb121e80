"""What Python's PostgreSQL clients get from kpi-query, printed as JSON for the Rust test to check.

usage: pg_clients.py DSN DISTRICT

- psycopg 3 with a parameterised query (`%s`), the same prepared server-side (`prepare=True`,
  Parse once, Bind/Execute three times), with binary results, and through a named (server-side)
  cursor;
- `pandas.read_sql` on a psycopg connection, with and without parameters;
- DBeaver's startup queries (datafusion-postgres 0.19's tests/dbeaver.rs, as pgjdbc sends them)
  over the extended protocol and over simple queries.

Nothing here asserts: every outcome is reported, `{"ok": false, "error": ...}` included.
"""
import json
import os
import sys
import warnings

import pandas as pd
import psycopg

# datafusion-postgres 0.19.0 tests/dbeaver.rs, DBEAVER_QUERIES (the long keyword list shortened
# to a few words: its length is not what is tested).
DBEAVER_STARTUP = [
    "SET extra_float_digits = 3",
    "SET application_name = 'PostgreSQL JDBC Driver'",
    "SET application_name = 'DBeaver 25.1.5 - Main <postgres>'",
    "SELECT current_schema(),session_user",
    "SELECT n.oid,n.*,d.description FROM pg_catalog.pg_namespace n LEFT OUTER JOIN pg_catalog.pg_description d ON d.objoid=n.oid AND d.objsubid=0 AND d.classoid='pg_namespace'::regclass ORDER BY nspname",
    "SELECT n.nspname = ANY(current_schemas(true)), n.nspname, t.typname FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON t.typnamespace = n.oid WHERE t.oid = 1034",
    "SELECT typinput='pg_catalog.array_in'::regproc as is_array, typtype, typname, pg_type.oid   FROM pg_catalog.pg_type   LEFT JOIN (select ns.oid as nspoid, ns.nspname, r.r           from pg_namespace as ns           join ( select s.r, (current_schemas(false))[s.r] as nspname                    from generate_series(1, array_upper(current_schemas(false), 1)) as s(r) ) as r          using ( nspname )        ) as sp     ON sp.nspoid = typnamespace  WHERE pg_type.oid = 1034  ORDER BY sp.r, pg_type.oid DESC",
    "SHOW search_path",
    "SELECT db.oid,db.* FROM pg_catalog.pg_database db WHERE datname='postgres'",
    "SELECT * FROM pg_catalog.pg_settings where name='standard_conforming_strings'",
    "SELECT string_agg(word, ',' ) from pg_catalog.pg_get_keywords() where word <> ALL ('{a,abs,absolute,action,ada,add,admin,after,all,allocate,alter,and,any,are,array,as,asc}'::text[])",
    "SELECT version()",
    "SELECT * FROM pg_catalog.pg_enum WHERE 1<>1 LIMIT 1",
    "SELECT reltype FROM pg_catalog.pg_class WHERE 1<>1 LIMIT 1",
    "SELECT t.oid,t.*,c.relkind,format_type(nullif(t.typbasetype, 0), t.typtypmod) as base_type_name, d.description FROM pg_catalog.pg_type t LEFT OUTER JOIN pg_catalog.pg_type et ON et.oid=t.typelem LEFT OUTER JOIN pg_catalog.pg_class c ON c.oid=t.typrelid LEFT OUTER JOIN pg_catalog.pg_description d ON t.oid=d.objoid WHERE t.typname IS NOT NULL AND (c.relkind IS NULL OR c.relkind = 'c') AND (et.typcategory IS NULL OR et.typcategory <> 'C')",
    """SELECT c.oid,c.*,d.description,pg_catalog.pg_get_expr(c.relpartbound, c.oid) as partition_expr,  pg_catalog.pg_get_partkeydef(c.oid) as partition_key
    FROM pg_catalog.pg_class c
    LEFT OUTER JOIN pg_catalog.pg_description d ON d.objoid=c.oid AND d.objsubid=0 AND d.classoid='pg_class'::regclass
    WHERE c.relnamespace=11 AND c.relkind not in ('i','I','c')""",
    """select c.oid,pg_catalog.pg_total_relation_size(c.oid) as total_rel_size,pg_catalog.pg_relation_size(c.oid) as rel_size
     FROM pg_class c
     WHERE c.relnamespace='public'""",
    """SELECT i.*,i.indkey as keys,c.relname,c.relnamespace,c.relam,c.reltablespace,tc.relname as tabrelname,dsc.description,pg_catalog.pg_get_expr(i.indpred, i.indrelid) as pred_expr,pg_catalog.pg_get_expr(i.indexprs, i.indrelid, true) as expr,pg_catalog.pg_relation_size(i.indexrelid) as index_rel_size,pg_catalog.pg_stat_get_numscans(i.indexrelid) as index_num_scans FROM pg_catalog.pg_index i
    INNER JOIN pg_catalog.pg_class c ON c.oid=i.indexrelid
    INNER JOIN pg_catalog.pg_class tc ON tc.oid=i.indrelid
    LEFT OUTER JOIN pg_catalog.pg_description dsc ON i.indexrelid=dsc.objoid
    WHERE  i.indrelid=1 ORDER BY tabrelname, c.relname""",
    """SELECT c.oid,c.*,t.relname as tabrelname,rt.relnamespace as refnamespace,d.description, case when c.contype='c' then "substring"(pg_get_constraintdef(c.oid), 7) else null end consrc_copy
    FROM pg_catalog.pg_constraint c
    INNER JOIN pg_catalog.pg_class t ON t.oid=c.conrelid
    LEFT OUTER JOIN pg_catalog.pg_class rt ON rt.oid=c.confrelid
    LEFT OUTER JOIN pg_catalog.pg_description d ON d.objoid=c.oid AND d.objsubid=0 AND d.classoid='pg_constraint'::regclass
    WHERE c.conrelid=1
    ORDER BY c.oid""",
]

COUNT_SQL = "SELECT count(*) FROM facility_changes WHERE district = %s"
BY_DISTRICT_SQL = (
    "SELECT district, count(*) AS n FROM facility_changes GROUP BY district ORDER BY district"
)


def attempt(f):
    """`{"ok": true, "value": f()}` or `{"ok": false, "error": ...}`."""
    try:
        return {"ok": True, "value": f()}
    except Exception as e:  # noqa: BLE001 - every failure is reported, not raised
        return {"ok": False, "error": f"{type(e).__name__}: {e}".strip()}


def connect(dsn):
    return psycopg.connect(dsn, autocommit=True, connect_timeout=10)


def main() -> None:
    dsn, district = sys.argv[1], sys.argv[2]
    out = {}
    with connect(dsn) as conn:
        out["param"] = attempt(lambda: conn.execute(COUNT_SQL, (district,)).fetchone()[0])
        out["prepared"] = attempt(
            lambda: [
                conn.execute(COUNT_SQL, (district,), prepare=True).fetchone()[0]
                for _ in range(3)
            ]
        )

        def binary():
            cur = conn.cursor(binary=True)
            cur.execute(
                "SELECT count(*) AS n, min(district) AS d, max(event_date) AS last_day "
                "FROM facility_changes WHERE district = %s",
                (district,),
            )
            n, d, last_day = cur.fetchone()
            return {"n": n, "district": d, "last_day": str(last_day)}

        out["binary"] = attempt(binary)
        out["binary_param_types"] = attempt(
            lambda: [
                str(v)
                for v in conn.cursor(binary=True)
                .execute("SELECT %s::bigint + 1 AS i, %s::text AS t", (41, "海淀区"))
                .fetchone()
            ]
        )

    def server_side():
        # A named cursor: DECLARE … CURSOR inside a transaction, then FETCH.
        with connect(dsn) as conn:
            with conn.transaction():
                with conn.cursor(name="kpi_cursor") as cur:
                    cur.execute(COUNT_SQL, (district,))
                    return cur.fetchone()[0]

    out["server_side"] = attempt(server_side)

    with connect(dsn) as conn, warnings.catch_warnings():
        # pandas warns that only SQLAlchemy connectables are "supported"; a DBAPI2 connection
        # is what analysts pass.
        warnings.simplefilter("ignore", UserWarning)

        def frame():
            df = pd.read_sql(BY_DISTRICT_SQL, conn)
            return {
                "columns": list(df.columns),
                "rows": {str(d): int(n) for d, n in zip(df["district"], df["n"])},
            }

        out["pandas"] = attempt(frame)
        out["pandas_param"] = attempt(
            lambda: int(
                pd.read_sql(
                    "SELECT count(*) AS n FROM facility_changes WHERE district = %(d)s",
                    conn,
                    params={"d": district},
                )["n"].iloc[0]
            )
        )

    dbeaver = []
    for mode in ("extended", "simple"):
        with connect(dsn) as conn:
            for sql in DBEAVER_STARTUP:

                def run(sql=sql):
                    cur = conn.cursor() if mode == "extended" else psycopg.ClientCursor(conn)
                    cur.execute(sql)
                    return len(cur.fetchall()) if cur.description is not None else None

                result = attempt(run)
                result.update({"mode": mode, "sql": sql})
                dbeaver.append(result)
    out["dbeaver"] = dbeaver
    json.dump(out, sys.stdout, ensure_ascii=False)


if __name__ == "__main__":
    main()
    # Skip interpreter teardown: Arrow's native thread pools can abort there (delta-rs #2184).
    sys.stdout.flush()
    os._exit(0)
