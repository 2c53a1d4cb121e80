//! The lake's state tables, kept up to date as events land instead of recomputed from every
//! event by each query: each hotline ticket's current state, and the histories of facilities
//! and renovation projects.
//!
//! [`keeper::Keeper`] reads the source event table's commits after the version the state has
//! applied, brings the rows of the keys they touch up to date ([`Upkeep`]: a fold of the prior
//! rows with the new events where every fact is a best event by some order, a minimum or an OR,
//! so `state(E1 ∪ E2) = fold(state(E1), E2)`; else a recompute of those keys from all their
//! events), writes them with one Delta MERGE and records the source version in that same commit
//! (a `txn` action under [`StateTable::app_id`]), so a crash at any moment leaves a state that
//! is exactly the state of some prefix of the source's versions. Readers (kpi-query) read the
//! source at that version beside the state: every answer is the definition over the events of
//! one version.
//!
//! The SQL lives in `sql/state/`: the reference definition of each state from all events (what
//! a rebuild means, what the tests compare with, and what kpi-query reads while a lake has no
//! state yet) and the hotline fold of a batch into the prior state.

pub mod keeper;
pub mod log;

/// One state table and the SQL that defines it.
#[derive(Debug)]
pub struct StateTable {
    /// Table name under the lake root.
    pub name: &'static str,
    /// The event table it is kept from.
    pub source: &'static str,
    /// What the state follows (a ticket, a facility, a project): the rows of one value are
    /// computed from that value's events only.
    pub key: &'static str,
    /// The columns that identify one row of the state within its partition.
    pub row_key: &'static [&'static str],
    /// The partition column.
    pub partition: &'static str,
    /// One `SELECT` over the source table giving the whole state (the reference definition).
    pub reference_sql: &'static str,
    /// How a batch of new events changes the state.
    pub upkeep: Upkeep,
}

/// How the keeper brings a state table's rows up to date with a batch of new events.
#[derive(Debug)]
pub enum Upkeep {
    /// The new rows of the keys touched are a fold of their prior rows and the new events.
    Fold {
        /// One `SELECT` over `prior` (state rows) and `tail` (new source rows) giving the new
        /// state rows of every key in either.
        fold_sql: &'static str,
        /// One `SELECT` of the keys (one column, named as [`StateTable::key`]) whose new state
        /// the fold cannot decide from `prior` and `tail` alone: the keeper recomputes them
        /// with the reference definition over all their events.
        undecided_sql: Option<&'static str>,
    },
    /// The rows of every key touched are recomputed by the reference definition from all of
    /// that key's events: for histories, where an event landing late changes the rows after it
    /// (validity, carried values), and whose events are few.
    Recompute,
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
    row_key: &["ticket_id"],
    partition: "received_month",
    reference_sql: include_str!("../../../sql/state/hotline_ticket_state.sql"),
    upkeep: Upkeep::Fold {
        fold_sql: include_str!("../../../sql/state/hotline_ticket_fold.sql"),
        // A valid survey at the same time as the prior's, with another event_id, may be a
        // resend of an earlier loser (ranked at its first landing, which the prior row does
        // not keep).
        undecided_sql: Some(
            "SELECT DISTINCT t.ticket_id FROM tail t JOIN prior p ON p.ticket_id = t.ticket_id \
             WHERE t.event_type = 'hotline.ticket_surveyed' AND t.is_valid_visit \
             AND t.event_time = p.survey_event_time AND t.event_id <> p.survey_event_id",
        ),
    },
};

/// Each reopen of a hotline ticket once (`sql/state/hotline_ticket_reopens.sql`): K30's 重办件次
/// are a flow of events, which one row per ticket cannot hold.
pub const HOTLINE_TICKET_REOPENS: StateTable = StateTable {
    name: "hotline_ticket_reopens",
    source: "hotline_tickets",
    key: "event_id",
    row_key: &["event_id", "ticket_id", "district", "event_date"],
    partition: "month",
    reference_sql: include_str!("../../../sql/state/hotline_ticket_reopens.sql"),
    upkeep: Upkeep::Fold {
        fold_sql: include_str!("../../../sql/state/hotline_ticket_reopens_fold.sql"),
        undecided_sql: None,
    },
};

/// The facility registry's history: each facility event once, with its validity and the
/// values it carries forward (`sql/state/facility_state.sql`).
pub const FACILITY_STATE: StateTable = StateTable {
    name: "facility_state",
    source: "facility_changes",
    key: "facility_id",
    row_key: &["kafka_partition", "kafka_offset"],
    partition: "district",
    reference_sql: include_str!("../../../sql/state/facility_state.sql"),
    upkeep: Upkeep::Recompute,
};

/// Each renovation project's history: each progress event once, in the project's order, with
/// its validity and carried values (`sql/state/renovation_project_state.sql`).
pub const RENOVATION_PROJECT_STATE: StateTable = StateTable {
    name: "renovation_project_state",
    source: "renovation_progress",
    key: "project_id",
    row_key: &["kafka_partition", "kafka_offset"],
    partition: "district",
    reference_sql: include_str!("../../../sql/state/renovation_project_state.sql"),
    upkeep: Upkeep::Recompute,
};

/// Every state table of the lake. The state tables of one source are kept at the same source
/// versions, the first one leading ([`keeper::catch_up_all`]).
pub const STATE_TABLES: [&StateTable; 4] = [
    &HOTLINE_TICKET_STATE,
    &HOTLINE_TICKET_REOPENS,
    &FACILITY_STATE,
    &RENOVATION_PROJECT_STATE,
];

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
