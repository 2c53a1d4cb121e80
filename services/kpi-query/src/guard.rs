//! What kpi-query runs: reads only.
//!
//! A statement passes two checks. Before planning, its syntax tree must be a query (`SELECT`,
//! `WITH`, `VALUES`), `EXPLAIN` of one, `SHOW TABLES`/`SHOW COLUMNS` or `DESCRIBE`. After
//! planning, DataFusion's own [`SQLOptions`] verifier refuses any DDL, DML or statement the
//! plan still contains. Files outside the lake cannot be named: URL tables are off, and the
//! only table functions are `generate_series` and `range`.
//!
//! A read must also be of a size the planner handles in moments: expressions nest at most
//! [`MAX_EXPRESSION_DEPTH`] deep, and a statement holds at most [`MAX_QUERY_BLOCKS`] query
//! blocks (each `SELECT`/`VALUES` term of a set operation, CTE and subquery), [`MAX_RELATIONS`]
//! tables in its `FROM` clauses, [`MAX_EXPRESSIONS`] expression nodes and
//! [`MAX_STRING_CONCATS`] `||` operators (each copies its inputs outside the memory pool; see
//! [`crate::bounded`]). A 5,000-term `UNION ALL` kept the planner busy for over a minute;
//! derived tables nested deeper than the parser's recursion limit (50) are a syntax error.
//!
//! `WITH RECURSIVE` is refused: the catalogue and a statistics bureau's questions need no
//! recursion, and a recursive CTE runs until the time limit, or its memory limit, whatever it
//! computes. (The engine's `enable_recursive_ctes` is off as well.)

use datafusion::error::DataFusionError;
use datafusion::execution::context::SQLOptions;
use datafusion::logical_expr::LogicalPlan;
use datafusion::sql::parser::Statement;
use datafusion::sql::sqlparser::ast::{
    BinaryOperator, Expr, Query, SetExpr, Statement as Ast, TableFactor, Visit, Visitor,
};
use std::ops::ControlFlow;

/// Deepest expression nesting planned: deeper trees take the planner minutes or its stack.
pub const MAX_EXPRESSION_DEPTH: usize = 256;
/// Query blocks of one statement: set-operation terms, CTEs and subqueries.
pub const MAX_QUERY_BLOCKS: usize = 256;
/// Tables, table functions and derived tables named in one statement.
pub const MAX_RELATIONS: usize = 64;
/// Expression nodes of one statement (a 50,000-value `IN` list still passes).
pub const MAX_EXPRESSIONS: usize = 100_000;
/// String concatenation operators (`||`) of one statement.
pub const MAX_STRING_CONCATS: usize = 16;

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
    /// A read larger than the planner should take on: what, and the limit.
    #[error(
        "the statement is too complex: it has more than {limit} {what}; split it into smaller queries"
    )]
    TooComplex {
        /// What was counted.
        what: &'static str,
        /// Its limit.
        limit: usize,
    },
    /// `WITH RECURSIVE`.
    #[error(
        "kpi-query runs no recursive queries (WITH RECURSIVE is not allowed): they run until a limit stops them"
    )]
    Recursive,
}

impl Refused {
    /// Whether the statement is a read refused for its shape (size, depth, recursion) rather
    /// than for what it would do: the client should rewrite it, not ask for a permission.
    pub fn is_shape(&self) -> bool {
        !matches!(self, Self::NotARead(_))
    }
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
    let mut size = Size::default();
    if let ControlFlow::Break(refused) = ast.visit(&mut size) {
        return Err(refused);
    }
    match ast {
        Ast::Query(_) | Ast::ShowTables { .. } | Ast::ShowColumns { .. } => Ok(()),
        Ast::ExplainTable { .. } => Ok(()),
        Ast::Explain { statement, .. } => check_ast(statement),
        other => Err(Refused::NotARead(statement_kind(other))),
    }
}

/// Measures a statement against the limits of the module docs as it is visited.
#[derive(Default)]
struct Size {
    depth: usize,
    expressions: usize,
    concats: usize,
    blocks: usize,
    relations: usize,
}

/// `count + add`, or the refusal once it passes `limit`.
fn within(count: &mut usize, add: usize, limit: usize, what: &'static str) -> ControlFlow<Refused> {
    *count += add;
    if *count > limit {
        ControlFlow::Break(Refused::TooComplex { what, limit })
    } else {
        ControlFlow::Continue(())
    }
}

/// `SELECT`/`VALUES`/`TABLE` terms of a query body's set operations (iteratively: a long
/// `UNION ALL` chain is a deep tree).
fn set_terms(body: &SetExpr) -> usize {
    let mut terms = 0;
    let mut pending = vec![body];
    while let Some(expr) = pending.pop() {
        match expr {
            SetExpr::SetOperation { left, right, .. } => {
                pending.push(left);
                pending.push(right);
            }
            // A parenthesised query is a block of its own, counted when visited.
            SetExpr::Query(_) => {}
            _ => terms += 1,
        }
    }
    terms
}

impl Visitor for Size {
    type Break = Refused;

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<Refused> {
        let mut blocks = set_terms(&query.body);
        if let Some(with) = &query.with {
            if with.recursive {
                return ControlFlow::Break(Refused::Recursive);
            }
            blocks += with.cte_tables.len();
        }
        within(
            &mut self.blocks,
            blocks.max(1),
            MAX_QUERY_BLOCKS,
            "query blocks (SELECTs, set-operation terms, CTEs and subqueries)",
        )
    }

    fn pre_visit_table_factor(&mut self, _table: &TableFactor) -> ControlFlow<Refused> {
        within(
            &mut self.relations,
            1,
            MAX_RELATIONS,
            "tables and table functions",
        )
    }

    fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<Refused> {
        self.depth += 1;
        if self.depth > MAX_EXPRESSION_DEPTH {
            return ControlFlow::Break(Refused::TooDeep);
        }
        within(
            &mut self.expressions,
            1,
            MAX_EXPRESSIONS,
            "expression nodes",
        )?;
        if matches!(
            expr,
            Expr::BinaryOp {
                op: BinaryOperator::StringConcat,
                ..
            }
        ) {
            within(
                &mut self.concats,
                1,
                MAX_STRING_CONCATS,
                "|| operators (use concat())",
            )?;
        }
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, _expr: &Expr) -> ControlFlow<Refused> {
        self.depth -= 1;
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

    #[test]
    fn large_and_recursive_reads_are_refused() {
        let too_complex = |r: Result<(), Refused>| matches!(r, Err(Refused::TooComplex { .. }));
        let union = |n: usize| vec!["SELECT 1 AS a"; n].join(" UNION ALL ");
        assert!(too_complex(check(&union(5_000))), "a 5,000-term UNION ALL");
        assert!(check(&union(100)).is_ok());
        let ctes = |n: usize| {
            let defs: Vec<String> = (0..n)
                .map(|i| format!("c{i} AS (SELECT {i} AS a)"))
                .collect();
            format!("WITH {} SELECT * FROM c0", defs.join(", "))
        };
        assert!(too_complex(check(&ctes(1_000))), "1,000 CTEs");
        assert!(check(&ctes(20)).is_ok());
        let joins = |n: usize| {
            let from: Vec<String> = (0..n)
                .map(|i| format!("generate_series(1, 2) t{i}"))
                .collect();
            format!("SELECT count(*) FROM {}", from.join(", "))
        };
        assert!(too_complex(check(&joins(200))), "a 200-table join");
        assert!(check(&joins(10)).is_ok());
        let concat = |n: usize| format!("SELECT {}", vec!["'x'"; n].join(" || "));
        assert!(too_complex(check(&concat(40))), "40 || operators");
        assert!(check(&concat(5)).is_ok());
        assert_eq!(
            check(
                "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT * FROM r"
            ),
            Err(Refused::Recursive)
        );
        assert_eq!(
            check("SELECT * FROM (WITH RECURSIVE r(n) AS (SELECT 1) SELECT * FROM r) t"),
            Err(Refused::Recursive)
        );
    }
}
