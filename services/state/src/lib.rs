//! The lake's state tables: the current state of each hotline ticket as a Delta table, kept up
//! to date as events land instead of recomputed from every event by each query.
//!
//! A state table is a fold of its source event table: every fact it holds is the best event of
//! the ticket by some order (its latest event, its intake, its last valid return visit …), a
//! minimum or an OR, so `state(E1 ∪ E2) = fold(state(E1), E2)`. [`keeper::Keeper`] reads the
//! source's commits after the version the state has applied, folds their rows into the state
//! with one Delta MERGE and records the source version in that same commit (a `txn` action
//! under [`StateTable::app_id`]), so a crash at any moment leaves a state that is exactly the
//! fold of some prefix of the source's versions. Readers (kpi-query) read the source at that
//! version beside the state: every answer is the definition over the events of one version.
//!
//! The SQL lives in `sql/state/`: the reference definition of the state from all events (what
//! a rebuild means, what the tests compare with, and what kpi-query reads while a lake has no
//! state yet) and the fold of a batch into the prior state.

pub mod keeper;
pub mod log;

/// One state table and the SQL that defines it.
#[derive(Debug)]
pub struct StateTable {
    /// Table name under the lake root.
    pub name: &'static str,
    /// The event table it is folded from.
    pub source: &'static str,
    /// The key: one row per value.
    pub key: &'static str,
    /// The partition column (a `YYYY-MM` month the KPIs' periods prune by).
    pub partition: &'static str,
    /// One `SELECT` over the source table giving the whole state (the reference definition).
    pub reference_sql: &'static str,
    /// One `SELECT` over `prior` (state rows) and `tail` (new source rows) giving the new state
    /// rows of every key in either.
    pub fold_sql: &'static str,
    /// One `SELECT` of the keys (one column, named as [`key`](Self::key)) whose new state the
    /// fold cannot decide from `prior` and `tail` alone: the keeper recomputes them with the
    /// reference definition over all their events.
    pub undecided_sql: Option<&'static str>,
}

impl StateTable {
    /// The `txn` app id under which the state records the source version it has applied.
    pub fn app_id(&self) -> String {
        format!("civicpulse-state/{}", self.source)
    }
}

/// Each hotline ticket's state: its latest event, intake, location, last valid return visit
/// and first closure (`sql/state/hotline_ticket_state.sql`).
pub const HOTLINE_TICKET_STATE: StateTable = StateTable {
    name: "hotline_ticket_state",
    source: "hotline_tickets",
    key: "ticket_id",
    partition: "received_month",
    reference_sql: include_str!("../../../sql/state/hotline_ticket_state.sql"),
    fold_sql: include_str!("../../../sql/state/hotline_ticket_fold.sql"),
    // A valid survey at the same time as the prior's, with another event_id, may be a resend
    // of an earlier loser (ranked at its first landing, which the prior row does not keep).
    undecided_sql: Some(
        "SELECT DISTINCT t.ticket_id FROM tail t JOIN prior p ON p.ticket_id = t.ticket_id \
         WHERE t.event_type = 'hotline.ticket_surveyed' AND t.is_valid_visit \
         AND t.event_time = p.survey_event_time AND t.event_id <> p.survey_event_id",
    ),
};

/// Every state table of the lake.
pub const STATE_TABLES: [&StateTable; 1] = [&HOTLINE_TICKET_STATE];

/// Errors of keeping a state table.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// Delta Lake failed.
    #[error(transparent)]
    Delta(#[from] deltalake::DeltaTableError),
    /// The query engine failed.
    #[error(transparent)]
    Query(#[from] datafusion::error::DataFusionError),
    /// Arrow failed.
    #[error(transparent)]
    Arrow(#[from] datafusion::arrow::error::ArrowError),
    /// The lake layer failed.
    #[error(transparent)]
    Lake(#[from] civicpulse_core::lake::LakeError),
    /// A source commit is no longer in the log (log retention passed it): the state cannot
    /// follow the source from its version and has to be rebuilt.
    #[error(
        "{table}: commit {version} is gone from the log (log retention passed it); rebuild the state (`lake-maintain state --rebuild`)"
    )]
    CommitGone {
        /// Source table.
        table: String,
        /// The missing version.
        version: i64,
    },
    /// A source commit removed rows (a delete or overwrite): events never leave the event
    /// tables, and a fold cannot take an event back.
    #[error(
        "{table}: commit {version} removes rows ({operation}); the state follows appends and compaction only; rebuild the state (`lake-maintain state --rebuild`)"
    )]
    RowsRemoved {
        /// Source table.
        table: String,
        /// The commit.
        version: i64,
        /// Its operation as the log names it.
        operation: String,
    },
    /// The state records a source version the source does not have (another lake's state, or a
    /// source table that was recreated).
    #[error(
        "{state} has applied {source_table} up to version {applied}, but {source_table} is at version {latest}; rebuild the state"
    )]
    AheadOfSource {
        /// State table.
        state: String,
        /// Source table.
        source_table: String,
        /// Version the state recorded.
        applied: i64,
        /// The source's latest version.
        latest: i64,
    },
}
