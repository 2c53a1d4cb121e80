//! What kpi-query runs: reads only.
//!
//! A statement passes two checks. Before planning, its syntax tree must be a query (`SELECT`,
//! `WITH`, `VALUES`), `EXPLAIN` of one, `SHOW TABLES`/`SHOW COLUMNS` or `DESCRIBE`. After
//! planning, DataFusion's own [`SQLOptions`] verifier refuses any DDL, DML or statement the
//! plan still contains. Files outside the lake cannot be named: URL tables are off, and the
//! only table functions are `generate_series` and `range`.

use datafusion::error::DataFusionError;
use datafusion::execution::context::SQLOptions;
use datafusion::logical_expr::LogicalPlan;
use datafusion::sql::parser::Statement;
use datafusion::sql::sqlparser::ast::{Expr, Statement as Ast, Visit, Visitor};
use std::ops::ControlFlow;

/// Deepest expression nesting planned: deeper trees take the planner minutes or its stack.
pub const MAX_EXPRESSION_DEPTH: usize = 256;

/// Why a statement is not run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// Not a read: the statement's kind.
    #[error(
        "kpi-query is read-only: {0} is not allowed (only SELECT, WITH, VALUES, EXPLAIN, SHOW and DESCRIBE run)"
    )]
    NotARead(String),
    /// A read, but nested too deeply to plan safely.
    #[error(
        "the statement nests expressions deeper than {MAX_EXPRESSION_DEPTH} levels: write it flatter"
    )]
    TooDeep,
}

/// Checks a parsed statement before it is planned.
pub fn check_statement(statement: &Statement) -> Result<(), Refused> {
    match statement {
        Statement::Statement(ast) => check_ast(ast),
        Statement::Explain(explain) => check_statement(&explain.statement),
        Statement::CreateExternalTable(_) => Err(Refused::NotARead("CREATE EXTERNAL TABLE".into())),
        Statement::CopyTo(_) => Err(Refused::NotARead("COPY".into())),
        Statement::Reset(_) => Err(Refused::NotARead("RESET".into())),
    }
}

/// Checks a statement of the SQL syntax tree.
pub fn check_ast(ast: &Ast) -> Result<(), Refused> {
    let mut depth = Depth::default();
    if ast.visit(&mut depth).is_break() {
        return Err(Refused::TooDeep);
    }
    match ast {
        Ast::Query(_) | Ast::ShowTables { .. } | Ast::ShowColumns { .. } => Ok(()),
        Ast::ExplainTable { .. } => Ok(()),
        Ast::Explain { statement, .. } => check_ast(statement),
        other => Err(Refused::NotARead(statement_kind(other))),
    }
}

/// Tracks how deeply expressions nest.
#[derive(Default)]
struct Depth {
    current: usize,
}

impl Visitor for Depth {
    type Break = ();

    fn pre_visit_expr(&mut self, _expr: &Expr) -> ControlFlow<()> {
        self.current += 1;
        if self.current > MAX_EXPRESSION_DEPTH {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }

    fn post_visit_expr(&mut self, _expr: &Expr) -> ControlFlow<()> {
        self.current -= 1;
        ControlFlow::Continue(())
    }
}

/// The leading keywords of a statement, for messages: `INSERT`, `CREATE TABLE`, `SET` …
pub fn statement_kind(ast: &Ast) -> String {
    let text = ast.to_string();
    let words: Vec<&str> = text.split_whitespace().take(3).collect();
    let take = match words.first().map(|w| w.to_ascii_uppercase()).as_deref() {
        Some("CREATE" | "DROP" | "ALTER") => 2,
        _ => 1,
    };
    words
        .into_iter()
        .take(take)
        .map(str::to_ascii_uppercase)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Verifies a logical plan holds no DDL, DML or statement (`SET`, transactions).
pub fn check_plan(plan: &LogicalPlan) -> Result<(), DataFusionError> {
    SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false)
        .verify_plan(plan)
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::parser::DFParser;

    fn check(sql: &str) -> Result<(), Refused> {
        let mut statements = DFParser::parse_sql(sql).expect("parses");
        check_statement(&statements.pop_front().expect("one statement"))
    }

    #[test]
    fn reads_pass_and_writes_are_refused() {
        for sql in [
            "SELECT 1",
            "WITH a AS (SELECT 1) SELECT * FROM a",
            "EXPLAIN SELECT 1",
            "SHOW TABLES",
        ] {
            assert!(check(sql).is_ok(), "{sql}");
        }
        for (sql, kind) in [
            ("INSERT INTO t VALUES (1)", "INSERT"),
            ("CREATE TABLE t AS SELECT 1", "CREATE TABLE"),
            ("DROP VIEW v", "DROP VIEW"),
            ("COPY (SELECT 1) TO '/tmp/x.csv'", "COPY"),
            (
                "CREATE EXTERNAL TABLE t STORED AS CSV LOCATION '/etc/passwd'",
                "CREATE EXTERNAL TABLE",
            ),
            ("SET datafusion.execution.batch_size = 1", "SET"),
            ("EXPLAIN INSERT INTO t VALUES (1)", "INSERT"),
        ] {
            assert_eq!(check(sql), Err(Refused::NotARead(kind.into())), "{sql}");
        }
        let deep = format!("SELECT {}", vec!["1"; 5_000].join("+"));
        assert_eq!(check(&deep), Err(Refused::TooDeep), "a 5,000-term chain");
        assert!(check(&format!("SELECT {}", vec!["1"; 100].join("+"))).is_ok());
    }
}
