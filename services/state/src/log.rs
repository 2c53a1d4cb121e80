//! What each commit of a source table did to its rows, read from the commit's log entry.

use deltalake::kernel::{Action, Add};
use deltalake::logstore::{LogStore, get_actions};

use crate::StateError;

/// What one commit did to the source's rows.
#[derive(Debug, Clone)]
pub enum Change {
    /// New rows landed in these files (`dataChange`), and no file was removed.
    Appended(Vec<Add>),
    /// The same rows were rewritten into other files (compaction: `dataChange` false), maybe
    /// beside newly landed files: files an earlier commit added may be gone after it.
    Rearranged(Vec<Add>),
    /// No rows moved (metadata, protocol, an empty commit).
    Nothing,
}

/// One source commit.
#[derive(Debug, Clone)]
pub struct SourceCommit {
    /// Its version.
    pub version: u64,
    /// What it did.
    pub change: Change,
    /// Rows it landed, from the files' statistics (0 when a file has none).
    pub rows: u64,
}

impl SourceCommit {
    /// The files with newly landed rows.
    pub fn appended(&self) -> &[Add] {
        match &self.change {
            Change::Appended(adds) | Change::Rearranged(adds) => adds,
            Change::Nothing => &[],
        }
    }
}

/// Reads commit `version` of `table`.
pub async fn read_commit(
    log_store: &dyn LogStore,
    table: &str,
    version: u64,
) -> Result<SourceCommit, StateError> {
    let gone = || StateError::CommitGone {
        table: table.to_owned(),
        version: version as i64,
    };
    let bytes = log_store
        .read_commit_entry(version)
        .await?
        .ok_or_else(gone)?;
    let mut appended = Vec::new();
    let mut rearranged = false;
    let mut removed_rows = false;
    let mut operation = None;
    for action in get_actions(version, &bytes)? {
        match action {
            Action::Add(add) if add.data_change => appended.push(add),
            Action::Add(_) => rearranged = true,
            Action::Remove(remove) => {
                rearranged = true;
                removed_rows |= remove.data_change;
            }
            Action::CommitInfo(info) => operation = info.operation,
            _ => {}
        }
    }
    if removed_rows {
        return Err(StateError::RowsRemoved {
            table: table.to_owned(),
            version: version as i64,
            operation: operation.unwrap_or_else(|| "unknown".into()),
        });
    }
    let rows = appended.iter().map(file_rows).sum();
    let change = if rearranged {
        Change::Rearranged(appended)
    } else if appended.is_empty() {
        Change::Nothing
    } else {
        Change::Appended(appended)
    };
    Ok(SourceCommit {
        version,
        change,
        rows,
    })
}

/// A file's row count from its statistics.
fn file_rows(add: &Add) -> u64 {
    add.stats
        .as_deref()
        .and_then(|s| serde_json::from_str::<serde_json::Value>(s).ok())
        .and_then(|v| v.get("numRecords").and_then(|n| n.as_u64()))
        .unwrap_or(0)
}

/// What commit `version` of a state table records under `app_id` (its `txn` action).
pub async fn read_txn(
    log_store: &dyn LogStore,
    version: u64,
    app_id: &str,
) -> Result<Txn, StateError> {
    let Some(bytes) = log_store.read_commit_entry(version).await? else {
        return Ok(Txn::Gone);
    };
    for action in get_actions(version, &bytes)? {
        if let Action::Txn(txn) = action
            && txn.app_id == app_id
        {
            return Ok(Txn::Applied(txn.version));
        }
    }
    Ok(Txn::None)
}

/// What one commit of a state table says of the source version it applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Txn {
    /// It applied the source up to this version.
    Applied(i64),
    /// It changed nothing it applied (compaction, checkpoint, vacuum).
    None,
    /// It is no longer in the log.
    Gone,
}
