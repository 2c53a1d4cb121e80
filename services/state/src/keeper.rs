//! Folds a source table's new commits into its state table, exactly once.
//!
//! One [`Keeper::apply_once`] reads the source commits after the version the state has applied
//! (at most about `max_rows` landed rows), reads their newly landed files, reads the state rows
//! of the keys they touch, folds the two with the table's fold SQL and MERGEs the result into
//! the state in one commit that also records the last source version it covers. Compaction
//! commits of the source add no rows (their files hold rows already applied) and are skipped;
//! a commit that removes rows stops the keeper with [`StateError::RowsRemoved`].

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use civicpulse_core::lake::{FileSettings, LakeRoot, is_missing_local_table, is_not_a_table};
use datafusion::arrow::array::{AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::datasource::{MemTable, TableProvider};
use datafusion::prelude::{SessionConfig, SessionContext};
use deltalake::delta_datafusion::{DeltaScanConfig, DeltaScanNext};
use deltalake::kernel::Action;
use deltalake::kernel::engine::arrow_conversion::TryIntoKernel;
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake::kernel::{Add, StructType, Transaction};
use deltalake::logstore::get_actions;
use deltalake::operations::write::SchemaMode;
use deltalake::protocol::{DeltaOperation, OutputMode, SaveMode};
use deltalake::{DeltaTable, Path};
use object_store::ObjectStoreExt;
use url::Url;

use crate::log::{Change, SourceCommit, read_commit};
use crate::{StateError, StateTable, Upkeep};

/// The rows of state the fold reads, named in the fold SQL.
const PRIOR: &str = "prior";
/// Every state row of the keys touched (`prior` without the keys recomputed).
const PRIOR_ALL: &str = "prior_all";
/// The newly landed source rows, named in the fold SQL.
const TAIL: &str = "tail";
/// The new state rows of the keys touched.
const FOLDED: &str = "folded";
/// The keys a batch touches (recompute upkeep).
const TOUCHED: &str = "touched";
/// The columns identifying one landed event in every event table: the views count a resend
/// (another row with these values) once.
const EVENT_IDENTITY: [&str; 3] = ["district", "month", "event_id"];
/// The merge source's column saying whether a row replaces or deletes a state row.
const MERGE_OP: &str = "merge_op";

/// What one apply did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// The source version applied before (`None`: nothing yet).
    pub from: Option<i64>,
    /// The source version applied now.
    pub to: i64,
    /// Source rows folded in.
    pub rows: usize,
    /// State rows written (keys touched).
    pub keys: usize,
    /// Time spent reading the new source rows, the prior state rows and folding them.
    pub fold: Duration,
    /// Time spent writing the state (MERGE and commit).
    pub write: Duration,
}

impl std::fmt::Display for Applied {
    /// `versions 4 to 6: 1000 events, 420 rows in 1.50 s (fold 1.00 s, write 0.50 s)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "versions {} to {}: {} events, {} rows in {:.2} s (fold {:.2} s, write {:.2} s)",
            self.from.map_or(0, |v| v + 1),
            self.to,
            self.rows,
            self.keys,
            (self.fold + self.write).as_secs_f64(),
            self.fold.as_secs_f64(),
            self.write.as_secs_f64()
        )
    }
}

impl Applied {
    /// Logs this apply of `keeper`'s table.
    fn log(&self, keeper: &Keeper) {
        tracing::info!(
            state = keeper.state.name,
            from = ?self.from, to = self.to, rows = self.rows, keys = self.keys,
            fold_s = self.fold.as_secs_f64(), write_s = self.write.as_secs_f64(),
            "state applied"
        );
    }
}

/// The files a keep from nothing (a new state, or one reset for a rebuild) wrote, and those a
/// later step of it replaced. Each step rewrites the months it touches (MERGE is
/// copy-on-write): a year folded from nothing at scale 0.2 left 10 GB of replaced files for
/// 1.1 GB of state. Only the keep's intermediate versions reference them, so they are deleted
/// a grace period after being replaced instead of waiting for vacuum's retention.
#[derive(Debug, Default)]
struct FromNothing {
    written: HashSet<String>,
    replaced: VecDeque<(Instant, String)>,
}

/// Keeps one state table of one lake.
pub struct Keeper {
    state: &'static StateTable,
    source_url: Url,
    state_url: Url,
    storage: HashMap<String, String>,
    files: FileSettings,
    max_rows: u64,
    /// Set by an apply from nothing until the state has caught up (in this process).
    from_nothing: Mutex<Option<FromNothing>>,
    replaced_grace: Duration,
}

impl Keeper {
    /// A keeper of `state` in the lake at `root`, folding at most about `max_rows` source rows
    /// per commit (a commit is never split: one larger than that is folded alone).
    pub fn new(
        state: &'static StateTable,
        root: &LakeRoot,
        storage: HashMap<String, String>,
        files: FileSettings,
        max_rows: u64,
    ) -> Self {
        Self {
            state,
            source_url: root.table_url(state.source),
            state_url: root.table_url(state.name),
            storage,
            files,
            max_rows: max_rows.max(1),
            from_nothing: Mutex::new(None),
            replaced_grace: Duration::from_secs(120),
        }
    }

    /// How long a file that a keep from nothing wrote stays on storage after a later step of
    /// it replaced it (default two minutes): longer than a query or a report run reading the
    /// version that held it.
    pub fn with_replaced_grace(mut self, grace: Duration) -> Self {
        self.replaced_grace = grace;
        self
    }

    /// A keeper for each of [`STATE_TABLES`](crate::STATE_TABLES), in its order (the order
    /// [`catch_up_all`] leads by).
    pub fn every(
        root: &LakeRoot,
        storage: HashMap<String, String>,
        files: FileSettings,
        max_rows: u64,
    ) -> Vec<Self> {
        crate::STATE_TABLES
            .iter()
            .map(|table| Self::new(table, root, storage.clone(), files.clone(), max_rows))
            .collect()
    }

    /// The state table this keeper keeps.
    pub fn table(&self) -> &'static StateTable {
        self.state
    }

    /// The table at `url`, loaded at its latest version; `None` if it does not exist.
    async fn load(&self, url: &Url) -> Result<Option<DeltaTable>, StateError> {
        if is_missing_local_table(url) {
            return Ok(None);
        }
        let mut table =
            DeltaTable::try_from_url_with_storage_options(url.clone(), self.storage.clone())
                .await?;
        match table.update_incremental(None).await {
            Ok(()) => Ok(Some(table)),
            Err(e) if is_not_a_table(&e) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The source table at `version`, readable in `ctx`.
    async fn source_at(
        &self,
        ctx: &SessionContext,
        version: u64,
    ) -> Result<DeltaTable, StateError> {
        let mut table = DeltaTable::try_from_url_with_storage_options(
            self.source_url.clone(),
            self.storage.clone(),
        )
        .await?;
        table.load_version(version).await?;
        table.update_datafusion_session(&ctx.state())?;
        Ok(table)
    }

    /// The source version the state has applied (`None`: none, or no state table).
    pub async fn applied(&self) -> Result<Option<i64>, StateError> {
        match self.load(&self.state_url).await? {
            Some(table) => applied_version(&table, self.state).await,
            None => Ok(None),
        }
    }

    /// Applies what the source has committed, up to version `until` when given, in steps of
    /// about `max_rows` rows.
    pub async fn catch_up(&self, until: Option<i64>) -> Result<Vec<Applied>, StateError> {
        let mut done = Vec::new();
        while let Some(applied) = self.apply_once(until).await? {
            done.push(applied);
        }
        Ok(done)
    }

    /// Empties the state and forgets the source version it applied, so that the next
    /// [`catch_up`](Self::catch_up) folds every event again (after a definition changed: the
    /// table takes the schema of this build's SQL).
    pub async fn reset(&self) -> Result<(), StateError> {
        let Some(table) = self.load(&self.state_url).await? else {
            return Ok(());
        };
        let Some(source) = self.load(&self.source_url).await? else {
            return Ok(());
        };
        let schema = state_schema(self.state, &source).await?;
        table
            .write(vec![RecordBatch::new_empty(schema)])
            .with_save_mode(SaveMode::Overwrite)
            .with_schema_mode(SchemaMode::Overwrite)
            .with_partition_columns([self.state.partition])
            .with_commit_properties(
                CommitProperties::default()
                    .with_application_transaction(Transaction::new(self.state.app_id(), -1)),
            )
            .await?;
        Ok(())
    }

    /// Folds the next source commits, up to version `until` when given, into the state;
    /// `None` when it is up to date.
    pub async fn apply_once(&self, until: Option<i64>) -> Result<Option<Applied>, StateError> {
        let Some(source) = self.load(&self.source_url).await? else {
            return Ok(None);
        };
        let latest = source.version().map_or(-1, |v| v as i64);
        let latest = until.map_or(latest, |until| until.min(latest));
        let state = self.load(&self.state_url).await?;
        let from = match &state {
            Some(table) => applied_version(table, self.state).await?,
            None => None,
        };
        let applied = from.unwrap_or(-1);
        if applied > latest && until.is_none() {
            return Err(StateError::AheadOfSource {
                state: self.state.name.into(),
                source_table: self.state.source.into(),
                applied,
                latest,
            });
        }
        if applied >= latest {
            // Caught up (a follower: with its leader): what it writes from now on is the
            // state's history, left to vacuum.
            self.from_nothing.lock().expect("not poisoned").take();
            return Ok(None);
        }
        if from.is_none() {
            self.from_nothing
                .lock()
                .expect("not poisoned")
                .get_or_insert_with(FromNothing::default);
        }
        let commits = self.pending(&source, applied, latest).await?;
        let to = commits.last().map_or(applied, |c| c.version as i64);
        let txn = CommitProperties::default()
            .with_application_transaction(Transaction::new(self.state.app_id(), to));

        let started = Instant::now();
        let ctx = context();
        let tail = self.read_tail(&ctx, &commits).await?;
        let rows: usize = tail.iter().map(RecordBatch::num_rows).sum();
        let schema = state_schema(self.state, &source).await?;
        let state = match state {
            Some(table) => table,
            None => self.create(&schema).await?,
        };
        if rows == 0 {
            // Only compaction or metadata: record the version, so readers move with it.
            self.record(&state, txn, to).await?;
            return Ok(Some(Applied {
                from,
                to,
                rows,
                keys: 0,
                fold: Duration::ZERO,
                write: started.elapsed(),
            }));
        }
        let tail_schema = tail[0].schema();
        ctx.register_table(TAIL, Arc::new(MemTable::try_new(tail_schema, vec![tail])?))?;
        let folded = match &self.state.upkeep {
            Upkeep::Fold {
                fold_sql,
                undecided_sql,
            } => {
                self.read_prior(&ctx, &state, &schema).await?;
                if let Some(undecided) = undecided_sql {
                    self.recompute_undecided(&ctx, undecided, applied).await?;
                }
                ctx.sql(fold_sql).await?.collect().await?
            }
            Upkeep::Recompute => self.recompute_touched(&ctx, &state, &schema, to).await?,
        };
        let folded = conform(&schema, folded)?;
        let keys = folded.iter().map(RecordBatch::num_rows).sum();
        ctx.register_table(
            FOLDED,
            Arc::new(MemTable::try_new(schema.clone(), vec![folded])?),
        )?;
        let fold = started.elapsed();
        let before = state.version();
        let merged = self.merge(&ctx, state, &schema, txn.clone()).await?;
        if merged.version() == before {
            // A MERGE that changes no row commits nothing (a batch without reopen events for
            // hotline_ticket_reopens): the version is recorded alone.
            self.record(&merged, txn, to).await?;
        } else {
            self.delete_replaced(&merged).await?;
        }
        Ok(Some(Applied {
            from,
            to,
            rows,
            keys,
            fold,
            write: started.elapsed() - fold,
        }))
    }

    /// The source commits after `applied`, up to `latest` or about `max_rows` landed rows.
    async fn pending(
        &self,
        source: &DeltaTable,
        applied: i64,
        latest: i64,
    ) -> Result<Vec<SourceCommit>, StateError> {
        let mut commits = Vec::new();
        let mut rows = 0;
        for version in (applied + 1) as u64..=latest as u64 {
            if rows >= self.max_rows {
                break;
            }
            let commit =
                read_commit(source.log_store().as_ref(), self.state.source, version).await?;
            rows += commit.rows;
            commits.push(commit);
        }
        Ok(commits)
    }

    /// Registers the state rows of the keys the tail touches as `prior` and `prior_all`.
    async fn read_prior(
        &self,
        ctx: &SessionContext,
        state: &DeltaTable,
        schema: &SchemaRef,
    ) -> Result<(), StateError> {
        let started = Instant::now();
        state.update_datafusion_session(&ctx.state())?;
        ctx.register_table("state_now", scan(state)?)?;
        let key = self.state.key;
        let touched = format!("s.{key} IN (SELECT {key} FROM {TAIL})");
        // The partitions holding the touched keys, from the key column alone, then the whole
        // rows of those partitions only: a batch touches a few months of a year-long state.
        let partitions = self.partitions_where(ctx, "state_now", &touched).await?;
        let prior = ctx
            .sql(&format!(
                "SELECT s.* FROM state_now s WHERE {partitions} AND {touched}"
            ))
            .await?
            .collect()
            .await?;
        let prior = conform(schema, prior)?;
        tracing::debug!(
            state = self.state.name,
            rows = prior.iter().map(RecordBatch::num_rows).sum::<usize>(),
            seconds = started.elapsed().as_secs_f64(),
            "prior state rows read"
        );
        ctx.register_table(
            PRIOR,
            Arc::new(MemTable::try_new(schema.clone(), vec![prior.clone()])?),
        )?;
        ctx.register_table(
            PRIOR_ALL,
            Arc::new(MemTable::try_new(schema.clone(), vec![prior])?),
        )?;
        Ok(())
    }

    /// A predicate on `s.<partition column>` (text) selecting exactly the partitions of
    /// `table` (aliased `s`) that hold a row satisfying `condition`; it names partition values
    /// as literals, so the scan prunes files by them.
    async fn partitions_where(
        &self,
        ctx: &SessionContext,
        table: &str,
        condition: &str,
    ) -> Result<String, StateError> {
        let partition = self.state.partition;
        let values = ctx
            .sql(&format!(
                "SELECT DISTINCT CAST(s.{partition} AS VARCHAR) FROM {table} s WHERE {condition}"
            ))
            .await?
            .collect()
            .await?;
        let mut listed = Vec::new();
        let mut null = false;
        for batch in &values {
            let column = cast(batch.column(0), &DataType::Utf8)?;
            let column = column.as_string::<i32>();
            for value in column.iter() {
                match value {
                    Some(v) => listed.push(format!("'{}'", v.replace('\'', "''"))),
                    None => null = true,
                }
            }
        }
        let mut terms = Vec::new();
        if !listed.is_empty() {
            terms.push(format!("s.{partition} IN ({})", listed.join(", ")));
        }
        if null {
            terms.push(format!("s.{partition} IS NULL"));
        }
        Ok(match terms.len() {
            0 => "FALSE".to_owned(),
            _ => format!("({})", terms.join(" OR ")),
        })
    }

    /// [`Upkeep::Recompute`]: the state rows of every key the tail touches, recomputed by the
    /// reference definition from all of the key's events at source version `to`; registers
    /// those keys' current state rows as `prior_all`.
    ///
    /// A key is touched when a tail row shares its event identity (district, month, event_id:
    /// the views' resend rule) with a row of the key, so a resend of another key's event that
    /// lands at a lower position, and takes that event from it, recomputes both keys.
    async fn recompute_touched(
        &self,
        ctx: &SessionContext,
        state: &DeltaTable,
        schema: &SchemaRef,
        to: i64,
    ) -> Result<Vec<RecordBatch>, StateError> {
        let key = self.state.key;
        let source = self.source_at(ctx, to as u64).await?;
        ctx.register_table("source_now", scan(&source)?)?;
        let same_event = |a: &str, b: &str| equal_on(&EVENT_IDENTITY, a, b);
        let identity = EVENT_IDENTITY.join(", ");
        let touched = ctx
            .sql(&format!(
                "SELECT DISTINCT s.{key} FROM source_now s \
                 JOIN (SELECT DISTINCT {identity} FROM {TAIL}) t ON {on}",
                on = same_event("s", "t"),
            ))
            .await?
            .collect()
            .await?;
        let touched_schema = ctx.table(TAIL).await?.schema().inner().clone();
        let touched_schema = Arc::new(Schema::new(vec![
            touched_schema.field_with_name(key)?.clone(),
        ]));
        register_rows(ctx, TOUCHED, &touched_schema, touched)?;
        // The touched keys' events, and every row sharing an event identity with one of them
        // (the resend rule ranks those together); other keys' rows give partial histories,
        // dropped below.
        let events = ctx
            .sql(&format!(
                "SELECT s.* FROM source_now s JOIN (SELECT DISTINCT {identity} FROM source_now \
                 WHERE {key} IN (SELECT {key} FROM {TOUCHED})) r ON {on}",
                on = same_event("s", "r"),
            ))
            .await?;
        let events_schema = events.schema().inner().clone();
        let events = events.collect().await?;
        let recompute = context();
        recompute.register_table(
            self.state.source,
            Arc::new(MemTable::try_new(events_schema, vec![events])?),
        )?;
        let rows = recompute.sql(self.state.reference_sql).await?;
        let rows_schema = rows.schema().inner().clone();
        let rows = rows.collect().await?;
        ctx.register_table(
            "recomputed",
            Arc::new(MemTable::try_new(rows_schema, vec![rows])?),
        )?;
        let folded = ctx
            .sql(&format!(
                "SELECT * FROM recomputed WHERE {key} IN (SELECT {key} FROM {TOUCHED})"
            ))
            .await?
            .collect()
            .await?;
        state.update_datafusion_session(&ctx.state())?;
        ctx.register_table("state_now", scan(state)?)?;
        let prior = ctx
            .sql(&format!(
                "SELECT * FROM state_now WHERE {key} IN (SELECT {key} FROM {TOUCHED})"
            ))
            .await?
            .collect()
            .await?;
        register_rows(ctx, PRIOR_ALL, schema, prior)?;
        Ok(folded)
    }

    /// During a keep from nothing: notes the files `state`'s latest commit wrote and replaced,
    /// and deletes those the keep wrote that were replaced more than the grace period ago.
    async fn delete_replaced(&self, state: &DeltaTable) -> Result<(), StateError> {
        if self.from_nothing.lock().expect("not poisoned").is_none() {
            return Ok(());
        }
        let Some(version) = state.version() else {
            return Ok(());
        };
        let log_store = state.log_store();
        let Some(bytes) = log_store.read_commit_entry(version).await? else {
            return Ok(());
        };
        let actions = get_actions(version, &bytes)?;
        let due: Vec<String> = {
            let mut guard = self.from_nothing.lock().expect("not poisoned");
            let Some(keep) = guard.as_mut() else {
                return Ok(());
            };
            for action in actions {
                match action {
                    Action::Add(add) => {
                        keep.written.insert(add.path);
                    }
                    Action::Remove(remove) if keep.written.remove(&remove.path) => {
                        keep.replaced.push_back((Instant::now(), remove.path));
                    }
                    _ => {}
                }
            }
            let mut due = Vec::new();
            while let Some((at, _)) = keep.replaced.front()
                && at.elapsed() >= self.replaced_grace
            {
                due.extend(keep.replaced.pop_front().map(|(_, path)| path));
            }
            due
        };
        let store = log_store.object_store(None);
        for path in &due {
            // Percent-encoded as in the log, as vacuum reads tombstones.
            let location = Path::parse(path).unwrap_or_else(|_| Path::from(path.as_str()));
            match store.delete(&location).await {
                Ok(()) | Err(deltalake::ObjectStoreError::NotFound { .. }) => {}
                Err(e) => return Err(StateError::Delta(e.into())),
            }
        }
        if !due.is_empty() {
            tracing::debug!(
                state = self.state.name,
                files = due.len(),
                "replaced files of the keep from nothing deleted"
            );
        }
        Ok(())
    }

    /// Commits `txn` (source version `to` applied) without changing a row.
    async fn record(
        &self,
        state: &DeltaTable,
        txn: CommitProperties,
        to: i64,
    ) -> Result<(), StateError> {
        let operation = DeltaOperation::StreamingUpdate {
            output_mode: OutputMode::Append,
            query_id: self.state.app_id(),
            epoch_id: to,
        };
        CommitBuilder::from(txn)
            .build(Some(state.snapshot()?), state.log_store(), operation)
            .await?;
        Ok(())
    }

    /// MERGEs `folded` into the state in one commit carrying `txn`, matching rows by the row
    /// key and partition. Rows of `prior_all` that `folded` does not hold under the same row
    /// key and partition are deleted: a ticket whose partition value changed (its intake landed
    /// after later events) leaves its old partition; a history loses the row of an event a
    /// resend at a lower position took over. Returns the table after it.
    async fn merge(
        &self,
        ctx: &SessionContext,
        state: DeltaTable,
        schema: &SchemaRef,
        txn: CommitProperties,
    ) -> Result<DeltaTable, StateError> {
        let partition = self.state.partition;
        let matched: Vec<&str> = self
            .state
            .row_key
            .iter()
            .copied()
            .chain([partition])
            .collect();
        let same_row = |a: &str, b: &str| equal_on(&matched, a, b);
        let columns: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        let listed = |alias: &str| {
            columns
                .iter()
                .map(|c| format!("{alias}.{c}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let source = ctx
            .sql(&format!(
                "SELECT {folded}, 'upsert' AS {MERGE_OP} FROM {FOLDED} f \
                 UNION ALL \
                 SELECT {prior}, 'delete' AS {MERGE_OP} FROM {PRIOR_ALL} p \
                 LEFT JOIN {FOLDED} f ON {on} WHERE f.{partition} IS NULL",
                folded = listed("f"),
                prior = listed("p"),
                on = same_row("f", "p"),
            ))
            .await?;
        let (merged, _) = state
            .merge(source, same_row("target", "source"))
            .with_source_alias("source")
            .with_target_alias("target")
            .with_writer_properties(self.files.writer_properties())
            .with_commit_properties(txn)
            .when_matched_delete(|d| d.predicate(format!("source.{MERGE_OP} = 'delete'")))?
            .when_matched_update(|u| {
                columns
                    .iter()
                    .fold(u, |u, c| u.update(*c, format!("source.{c}")))
            })?
            .when_not_matched_insert(|i| {
                columns.iter().fold(
                    i.predicate(format!("source.{MERGE_OP} = 'upsert'")),
                    |i, c| i.set(*c, format!("source.{c}")),
                )
            })?
            .await?;
        Ok(merged)
    }

    /// Keys the fold cannot decide (`undecided` over `prior` and `tail`) are folded from all
    /// their events: their rows up to version `applied` join the tail and their prior rows
    /// leave `prior`.
    async fn recompute_undecided(
        &self,
        ctx: &SessionContext,
        undecided: &str,
        applied: i64,
    ) -> Result<(), StateError> {
        let keys = ctx.sql(undecided).await?.collect().await?;
        if keys.iter().all(|b| b.num_rows() == 0) || applied < 0 {
            return Ok(());
        }
        let count: usize = keys.iter().map(RecordBatch::num_rows).sum();
        tracing::debug!(
            state = self.state.name,
            keys = count,
            "recomputing from all events"
        );
        ctx.register_table(
            "undecided",
            Arc::new(MemTable::try_new(keys[0].schema(), vec![keys])?),
        )?;
        let then = self.source_at(ctx, applied as u64).await?;
        ctx.register_table("source_then", scan(&then)?)?;
        let key = self.state.key;
        let tail = ctx
            .sql(&format!(
                "SELECT * FROM {TAIL} UNION ALL SELECT * FROM source_then \
                 WHERE {key} IN (SELECT {key} FROM undecided)"
            ))
            .await?
            .collect()
            .await?;
        let prior = ctx
            .sql(&format!(
                "SELECT * FROM {PRIOR} WHERE {key} NOT IN (SELECT {key} FROM undecided)"
            ))
            .await?
            .collect()
            .await?;
        let tail_schema = ctx.table(TAIL).await?.schema().inner().clone();
        let prior_schema = ctx.table(PRIOR).await?.schema().inner().clone();
        ctx.deregister_table(TAIL)?;
        ctx.deregister_table(PRIOR)?;
        register_rows(ctx, TAIL, &tail_schema, tail)?;
        register_rows(ctx, PRIOR, &prior_schema, prior)?;
        Ok(())
    }

    /// The rows the `commits` landed. Files are read at the last version before a compaction
    /// could have removed them.
    async fn read_tail(
        &self,
        ctx: &SessionContext,
        commits: &[SourceCommit],
    ) -> Result<Vec<RecordBatch>, StateError> {
        let mut runs: Vec<(u64, Vec<Add>)> = Vec::new();
        for commit in commits {
            let starts_run = runs.is_empty() || matches!(commit.change, Change::Rearranged(_));
            if starts_run {
                runs.push((commit.version, Vec::new()));
            }
            let run = runs.last_mut().expect("pushed above");
            run.0 = commit.version;
            run.1.extend(commit.appended().iter().cloned());
        }
        let mut batches = Vec::new();
        for (version, adds) in runs {
            if adds.is_empty() {
                continue;
            }
            let table = self.source_at(ctx, version).await?;
            let snapshot = table.snapshot()?.snapshot().clone();
            let provider = DeltaScanNext::new(snapshot, scan_config())?.with_adds(adds);
            batches.extend(ctx.read_table(Arc::new(provider))?.collect().await?);
        }
        Ok(batches)
    }

    /// Creates the state table (empty, no source version applied).
    async fn create(&self, schema: &SchemaRef) -> Result<DeltaTable, StateError> {
        if let Ok(path) = self.state_url.to_file_path() {
            std::fs::create_dir_all(&path).map_err(|source| {
                StateError::Lake(civicpulse_core::lake::LakeError::CreateDir {
                    path: path.display().to_string(),
                    source,
                })
            })?;
        }
        let columns: StructType = schema.as_ref().try_into_kernel()?;
        let table = DeltaTable::try_from_url_with_storage_options(
            self.state_url.clone(),
            self.storage.clone(),
        )
        .await?;
        Ok(table
            .create()
            .with_columns(columns.fields().cloned())
            .with_partition_columns([self.state.partition])
            .with_configuration([
                ("delta.dataSkippingNumIndexedCols", Some("-1")),
                ("delta.checkpointInterval", Some("50")),
            ])
            .await?)
    }
}

/// The state's schema: the reference definition's output over the source's columns, every
/// column nullable (a fold's output and a Delta scan differ only in nullability).
async fn state_schema(state: &StateTable, source: &DeltaTable) -> Result<SchemaRef, StateError> {
    let probe = context();
    let source_schema = scan(source)?.schema();
    probe.register_table(
        state.source,
        Arc::new(MemTable::try_new(source_schema, vec![vec![]])?),
    )?;
    let plan = probe.sql(state.reference_sql).await?;
    let fields: Vec<Field> = plan
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone().with_nullable(true))
        .collect();
    Ok(Arc::new(Schema::new(fields)))
}

/// Brings every keeper up to date, logging each apply and passing it to `applied`; each
/// keeper's first error is returned in its place.
///
/// The first state table of a source leads: it applies one step, then the others of that
/// source apply up to the version it reached, and so on. Once caught up, a follower is never
/// more than the leader's last step behind it, at a version the leader applied too, so a
/// reader of both finds the leader's version that applied the follower's (kpi-query reads
/// them at one source version). A follower far behind (new, or rebuilt alone) catches up in
/// its own steps.
pub async fn catch_up_all(
    keepers: &[Keeper],
    applied: impl Fn(&Keeper, &Applied),
) -> Vec<Result<(), StateError>> {
    let report = |keeper: &Keeper, step: &Applied| {
        step.log(keeper);
        applied(keeper, step);
    };
    let mut out: Vec<Result<(), StateError>> = keepers.iter().map(|_| Ok(())).collect();
    let mut led: Vec<&str> = Vec::new();
    for (lead, leader) in keepers.iter().enumerate() {
        let source = leader.state.source;
        if led.contains(&source) {
            continue;
        }
        led.push(source);
        let followers: Vec<usize> = (lead + 1..keepers.len())
            .filter(|&i| keepers[i].state.source == source)
            .collect();
        let mut reached = match leader.applied().await {
            Ok(reached) => reached,
            Err(e) => {
                out[lead] = Err(e);
                continue;
            }
        };
        loop {
            for &i in &followers {
                if out[i].is_ok() {
                    // Nothing applied by the leader: nothing for the followers either.
                    let until = Some(reached.unwrap_or(-1));
                    out[i] = keepers[i].catch_up(until).await.map(|done| {
                        done.iter().for_each(|a| report(&keepers[i], a));
                    });
                }
            }
            match leader.apply_once(None).await {
                Ok(Some(step)) => {
                    report(leader, &step);
                    reached = Some(step.to);
                }
                Ok(None) => break,
                Err(e) => {
                    out[lead] = Err(e);
                    break;
                }
            }
        }
    }
    out
}

/// Follows the event tables: every `interval`, the keepers apply what their sources committed
/// ([`catch_up_all`]), until `stop` resolves. A failed round is logged and tried again next
/// round.
pub async fn follow(
    keepers: &[Keeper],
    interval: Duration,
    stop: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(stop);
    loop {
        for (keeper, result) in keepers.iter().zip(catch_up_all(keepers, |_, _| {}).await) {
            if let Err(e) = result {
                tracing::error!(state = keeper.state.name, error = %e, "state apply failed; retrying")
            }
        }
        tokio::select! {
            _ = &mut stop => return,
            _ = tokio::time::sleep(interval) => {}
        }
    }
}

/// The source version `table` (a state table) has applied.
async fn applied_version(
    table: &DeltaTable,
    state: &StateTable,
) -> Result<Option<i64>, StateError> {
    let version = table
        .snapshot()?
        .transaction_version(table.log_store().as_ref(), state.app_id())
        .await?;
    Ok(version.filter(|v| *v >= 0))
}

/// A session for one apply; text is `Utf8`, as the tables' scans and kpi-query read it.
fn context() -> SessionContext {
    let mut config = SessionConfig::new();
    config
        .options_mut()
        .execution
        .parquet
        .schema_force_view_types = false;
    config.options_mut().sql_parser.map_string_types_to_utf8view = false;
    SessionContext::new_with_config(config)
}

fn scan_config() -> DeltaScanConfig {
    let mut config = DeltaScanConfig::new().with_wrap_partition_values(false);
    config.schema_force_view_types = false;
    config
}

/// A scan of `table`'s loaded snapshot.
fn scan(table: &DeltaTable) -> Result<Arc<DeltaScanNext>, StateError> {
    let snapshot = table.snapshot()?.snapshot().clone();
    Ok(Arc::new(DeltaScanNext::new(snapshot, scan_config())?))
}

/// `a.c = b.c AND …` for each of `columns`.
fn equal_on(columns: &[&str], a: &str, b: &str) -> String {
    columns
        .iter()
        .map(|c| format!("{a}.{c} = {b}.{c}"))
        .collect::<Vec<_>>()
        .join(" AND ")
}

/// Registers `batches`, conformed to `schema`, as table `name` of `ctx`.
fn register_rows(
    ctx: &SessionContext,
    name: &str,
    schema: &SchemaRef,
    batches: Vec<RecordBatch>,
) -> Result<(), StateError> {
    let rows = conform(schema, batches)?;
    ctx.register_table(
        name,
        Arc::new(MemTable::try_new(schema.clone(), vec![rows])?),
    )?;
    Ok(())
}

/// `batches` with `schema`: the same columns in the same order, cast where a type differs
/// only in form (a list's item name, nullability).
fn conform(schema: &SchemaRef, batches: Vec<RecordBatch>) -> Result<Vec<RecordBatch>, StateError> {
    batches
        .into_iter()
        .map(|b| {
            let columns = b
                .columns()
                .iter()
                .zip(schema.fields())
                .map(|(c, f)| {
                    if c.data_type() == f.data_type() {
                        Ok(c.clone())
                    } else {
                        cast(c, f.data_type())
                    }
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(RecordBatch::try_new(schema.clone(), columns)?)
        })
        .collect()
}
