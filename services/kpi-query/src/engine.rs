//! The query engine: DataFusion over the lake, with the views and KPIs of the catalogue, run
//! read-only within limits of time, memory, concurrency and rows.

use std::num::NonZeroUsize;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use civicpulse_core::event::Event;
use civicpulse_core::event::facility::FacilityChange;
use civicpulse_core::event::hotline::HotlineTicket;
use civicpulse_core::event::renovation::RenovationProgress;
use civicpulse_core::lake::{LakeRoot, PARTITION_COLUMNS};
use civicpulse_core::reference::ReferenceTable;
use civicpulse_core::row::LakeRow;
use civicpulse_core::settings::LakeSettings;
use civicpulse_state::STATE_TABLES;
use datafusion::arrow::datatypes::{DataType, FieldRef, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::datasource::{MemTable, ViewTable};
use datafusion::error::DataFusionError;
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::memory_pool::{
    GreedyMemoryPool, MemoryConsumer, MemoryPool, TrackConsumersPool,
};
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::execution::session_state::{SessionState, SessionStateBuilder};
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion::sql::parser::{DFParser, Statement};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use futures::{Stream, StreamExt};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};

use crate::bounded;
use crate::catalog::{CatalogError, KpiCatalog, KpiParams, answer_over};
use crate::guard::{self, Refused};
use crate::lake::{LakeOptions, LakeTableProvider, TABLES, TableVersion};
use crate::reference;
use crate::settings::{QuerySettings, WeightVersion};
use crate::state::StateTableProvider;

/// Why a query gave no (complete) answer. Every variant is a message for the user.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The SQL does not parse.
    #[error("syntax error: {0}")]
    Syntax(String),
    /// Empty SQL or several statements.
    #[error("send exactly one statement (got {0})")]
    StatementCount(usize),
    /// Not a read.
    #[error(transparent)]
    Refused(#[from] Refused),
    /// A KPI or parameter is unknown or malformed.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// Planning failed: unknown table or column, type error …
    #[error("{0}")]
    Plan(String),
    /// The time limit passed.
    #[error(
        "the query ran longer than the time limit of {0:?} (query.timeout_secs) and was cancelled"
    )]
    Timeout(Duration),
    /// The memory limit was reached.
    #[error(
        "the query needs more memory than its limit of {limit} MiB (query.memory_limit_bytes): {detail}"
    )]
    MemoryLimit {
        /// The limit in MiB.
        limit: usize,
        /// DataFusion's account of the largest consumers.
        detail: String,
    },
    /// More rows than allowed.
    #[error("the result has more than {0} rows (query.max_rows): aggregate, filter or add LIMIT")]
    TooManyRows(usize),
    /// Every slot is taken.
    #[error("{0} queries are already running (query.max_concurrent); retry shortly")]
    Busy(usize),
    /// Execution failed.
    #[error("query failed: {0}")]
    Execution(String),
}

/// The longest error text a client gets: a planner's message can quote the client's statement
/// (an unknown column named by a megabyte of text) and would send it back whole.
pub const MAX_ERROR_BYTES: usize = 4096;

/// `text` cut to [`MAX_ERROR_BYTES`] at a character boundary, saying how much was left out.
pub fn capped(mut text: String) -> String {
    if text.len() <= MAX_ERROR_BYTES {
        return text;
    }
    let mut end = MAX_ERROR_BYTES - 64;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let left_out = text.len() - end;
    text.truncate(end);
    text.push_str(&format!(" … ({left_out} more bytes)"));
    text
}

impl QueryError {
    /// This error's text for a client, at most [`MAX_ERROR_BYTES`] long.
    pub fn message(&self) -> String {
        capped(self.to_string())
    }

    /// Classifies a DataFusion error.
    pub fn from_datafusion(e: DataFusionError, memory_limit: usize) -> Self {
        match e.find_root() {
            DataFusionError::ResourcesExhausted(detail) => Self::MemoryLimit {
                limit: memory_limit >> 20,
                detail: detail.clone(),
            },
            DataFusionError::SQL(e, _) => Self::Syntax(e.to_string()),
            DataFusionError::Plan(_)
            | DataFusionError::SchemaError(..)
            | DataFusionError::NotImplemented(_)
            | DataFusionError::Configuration(_) => Self::Plan(e.strip_backtrace()),
            _ => Self::Execution(e.strip_backtrace()),
        }
    }

    /// Whether the user's request is at fault (as opposed to the service or its limits).
    pub fn is_user_error(&self) -> bool {
        matches!(
            self,
            Self::Syntax(_)
                | Self::StatementCount(_)
                | Self::Refused(_)
                | Self::Catalog(_)
                | Self::Plan(_)
        )
    }
}

/// Limits every query runs within.
#[derive(Debug, Clone)]
pub struct QueryLimits {
    /// From the first byte of SQL to the last row.
    pub timeout: Duration,
    /// Memory of one query's operators.
    pub memory_limit: usize,
    /// Queries at once.
    pub max_concurrent: usize,
    /// Wait for a slot at most this long.
    pub queue_timeout: Duration,
    /// Rows of one result.
    pub max_rows: usize,
}

impl From<&QuerySettings> for QueryLimits {
    fn from(s: &QuerySettings) -> Self {
        Self {
            timeout: s.timeout(),
            memory_limit: s.memory_limit_bytes,
            max_concurrent: s.max_concurrent.max(1),
            queue_timeout: Duration::from_secs(s.queue_timeout_secs),
            max_rows: s.max_rows,
        }
    }
}

/// DataFusion over the lake, with the catalogue's views.
pub struct QueryEngine {
    ctx: SessionContext,
    executor: tokio::runtime::Handle,
    runtime: Arc<RuntimeEnv>,
    tables: Vec<Arc<LakeTableProvider>>,
    catalog: KpiCatalog,
    limits: QueryLimits,
    slots: Arc<Semaphore>,
}

impl QueryEngine {
    /// Registers the lake's tables, the reference tables and the catalogue's views.
    pub async fn open(
        lake: &LakeSettings,
        weights: &[WeightVersion],
        limits: QueryLimits,
    ) -> Result<Self, QueryError> {
        let plan_error = |e: DataFusionError| QueryError::from_datafusion(e, 0);
        let catalog = KpiCatalog::builtin()?;
        let root = LakeRoot::parse(&lake.root).map_err(|e| QueryError::Plan(e.to_string()))?;
        let storage: std::collections::HashMap<String, String> = lake
            .storage_options
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        // No spilling: a query over its memory limit fails with a message instead of writing
        // temporary files.
        let runtime = RuntimeEnvBuilder::new()
            .with_disk_manager_builder(
                DiskManagerBuilder::default().with_mode(DiskManagerMode::Disabled),
            )
            .build_arc()
            .map_err(plan_error)?;
        // DATAFUSION_* environment variables tune the engine (operators only, never clients).
        let mut config = SessionConfig::from_env()
            .map_err(plan_error)?
            .with_information_schema(true)
            .with_default_catalog_and_schema("civicpulse", "public")
            .with_create_default_catalog_and_schema(true);
        config
            .options_mut()
            .extensions
            .insert(LakeOptions::default());
        // DataFusion 55 repartitioned sorts fail its own plan sanity check when a join's output
        // is ordered by a column it knows to be constant (a KPI's NULL `item`).
        config.options_mut().optimizer.repartition_sorts = false;
        // `CAST(… AS VARCHAR)` is Utf8, as the event and reference tables read text (the
        // state tables read Utf8View; see `lake::scan_provider`).
        config.options_mut().sql_parser.map_string_types_to_utf8view = false;
        // No Parquet page index unless an operator asks for one: a Delta scan reads and parses
        // every column's index again for each query (124 columns in the ticket state: a third
        // of a state scan's time), and the lake's files are not sorted, so pages rarely prune.
        if std::env::var_os("DATAFUSION_EXECUTION_PARQUET_ENABLE_PAGE_INDEX").is_none() {
            config.options_mut().execution.parquet.enable_page_index = false;
        }
        // The guard refuses WITH RECURSIVE with a message; the planner refuses it too.
        config.options_mut().execution.enable_recursive_ctes = false;
        let state = SessionStateBuilder::new()
            .with_config(config)
            .with_runtime_env(runtime.clone())
            .with_default_features()
            .with_physical_optimizer_rule(Arc::new(crate::coop::YieldingJoins))
            .build();
        let ctx = SessionContext::new_with_state(state);
        bounded::register(&ctx, limits.memory_limit / bounded::VALUE_SHARE).map_err(plan_error)?;
        crate::date_trunc::register(&ctx).map_err(plan_error)?;
        let schemas: [(&str, SchemaRef); 3] = [
            (
                HotlineTicket::TABLE,
                <HotlineTicket as Event>::Row::schema(),
            ),
            (
                FacilityChange::TABLE,
                <FacilityChange as Event>::Row::schema(),
            ),
            (
                RenovationProgress::TABLE,
                <RenovationProgress as Event>::Row::schema(),
            ),
        ];
        let mut tables = Vec::new();
        for (name, row_schema) in schemas {
            debug_assert!(TABLES.contains(&name));
            let url = root.table_url(name);
            let schema = scan_schema(row_schema, &PARTITION_COLUMNS).await?;
            let provider = Arc::new(LakeTableProvider::new(
                name,
                url,
                storage.clone(),
                schema,
                &PARTITION_COLUMNS,
            ));
            ctx.register_table(name, provider.clone())
                .map_err(plan_error)?;
            tables.push(provider);
        }
        // The reference tables `lake-maintain load-reference` writes: read like the event
        // tables (latest, as_of or pinned version; empty until first loaded).
        for table in ReferenceTable::ALL {
            let name = table.name();
            let schema = scan_schema(table.schema(), &[]).await?;
            let url = root.table_url(name);
            let provider = Arc::new(LakeTableProvider::new(
                name,
                url,
                storage.clone(),
                schema,
                &[],
            ));
            ctx.register_table(name, provider.clone())
                .map_err(plan_error)?;
            tables.push(provider);
        }
        // The state tables `lake-maintain state` keeps: read at the version the query pins
        // (see `pin`), or by their reference definition while a lake has no state kept.
        for table in STATE_TABLES {
            let plan = ctx
                .sql(table.reference_sql)
                .await
                .map_err(|e| {
                    QueryError::Plan(format!("state {}: {}", table.name, e.strip_backtrace()))
                })?
                .into_unoptimized_plan();
            let (plan, schema) = state_schema(plan).map_err(plan_error)?;
            let url = root.table_url(table.name);
            let kept = Arc::new(
                LakeTableProvider::new(
                    table.name,
                    url,
                    storage.clone(),
                    schema,
                    &[table.partition],
                )
                .with_app_id(table.app_id())
                .with_text_as_views(),
            );
            let reference = ViewTable::new(plan, Some(table.reference_sql.to_owned()));
            ctx.register_table(
                table.name,
                Arc::new(StateTableProvider::new(kept.clone(), reference)),
            )
            .map_err(plan_error)?;
            tables.push(kept);
        }
        ctx.register_table("calendar", reference::calendar().map_err(plan_error)?)
            .map_err(plan_error)?;
        ctx.register_table("divisions", reference::divisions().map_err(plan_error)?)
            .map_err(plan_error)?;
        ctx.register_table(
            "kpi_weight_versions",
            reference::weight_versions(weights).map_err(plan_error)?,
        )
        .map_err(plan_error)?;
        for view in catalog.views() {
            ctx.sql(&format!("CREATE VIEW {} AS {}", view.name, view.sql))
                .await
                .map_err(|e| {
                    QueryError::Plan(format!("view {}: {}", view.name, e.strip_backtrace()))
                })?;
        }
        let slots = Arc::new(Semaphore::new(limits.max_concurrent));
        // Lives as long as the process: a runtime cannot be dropped from async code.
        let executor = tokio::runtime::Builder::new_multi_thread()
            .thread_name("query")
            .thread_stack_size(256 << 20)
            .enable_all()
            .build()
            .map_err(|e| QueryError::Execution(format!("query runtime: {e}")))?;
        let executor = Box::leak(Box::new(executor)).handle().clone();
        Ok(Self {
            ctx,
            executor,
            runtime,
            tables,
            catalog,
            limits,
            slots,
        })
    }

    /// The shared context (for the PostgreSQL catalogue tables).
    pub fn context(&self) -> &SessionContext {
        &self.ctx
    }

    /// The KPI catalogue.
    pub fn catalog(&self) -> &KpiCatalog {
        &self.catalog
    }

    /// The limits queries run within.
    pub fn limits(&self) -> &QueryLimits {
        &self.limits
    }

    /// The table versions a query with `options` reads now.
    ///
    /// An event table with kept state tables is read at the version they have applied, not its
    /// latest, so the states and the events agree (a state lags its events by the keeper's
    /// interval and one apply). Where one state table of a source has applied further than
    /// another (the keeper commits a step to each in turn), the events are read at the lowest
    /// applied version and the states ahead at their version that applied it; where one of
    /// them has none (a follower catching up from far behind), at the highest, and the states
    /// behind by their reference definition.
    pub async fn versions(&self, options: &LakeOptions) -> Result<Vec<TableVersion>, QueryError> {
        let mut out = futures::future::try_join_all(self.tables.iter().map(|t| t.version(options)))
            .await
            .map_err(|e| self.error(e))?;
        let resolved = LakeOptions::pinned(&out);
        let mut sources: Vec<&str> = STATE_TABLES.iter().map(|t| t.source).collect();
        sources.sort_unstable();
        sources.dedup();
        for source in sources {
            if options.versions.contains_key(source) {
                continue;
            }
            let mut states = Vec::new();
            for table in STATE_TABLES.iter().filter(|t| t.source == source) {
                let Some(state) = self.tables.iter().find(|t| t.name() == table.name) else {
                    continue;
                };
                let applied = state.applied(&resolved).await.map_err(|e| self.error(e))?;
                states.push((state, applied));
            }
            let applied: Vec<i64> = states.iter().filter_map(|(_, applied)| *applied).collect();
            let (Some(&lowest), Some(&highest)) = (applied.iter().min(), applied.iter().max())
            else {
                continue;
            };
            let version_of =
                |out: &[TableVersion], name: &str| out.iter().position(|v| v.table == name);
            // The lowest applied version, where each state ahead of it has a version that
            // applied it (a follower one step behind its leader) ...
            let mut aligned = Vec::new();
            for (state, applied) in &states {
                if applied.is_some_and(|a| a > lowest) {
                    let at = version_of(&out, state.name()).expect("every table has a version");
                    let from = out[at].version.unwrap_or(-1);
                    let version = state
                        .version_applying(lowest, from)
                        .await
                        .map_err(|e| self.error(e))?;
                    aligned.push((at, version));
                }
            }
            let cut = if aligned.iter().all(|(_, version)| version.is_some()) {
                for (at, version) in aligned {
                    out[at].version = version;
                }
                lowest
            } else {
                // ... else the highest, the states behind it read by their reference (a
                // follower catching up from far behind: new, or rebuilt).
                for (state, applied) in &states {
                    if applied.is_some_and(|a| a < highest) {
                        let at = version_of(&out, state.name()).expect("listed");
                        out[at].version = None;
                    }
                }
                highest
            };
            if let Some(at) = version_of(&out, source) {
                out[at].version = Some(cut);
            }
        }
        Ok(out)
    }

    fn error(&self, e: DataFusionError) -> QueryError {
        QueryError::from_datafusion(e, self.limits.memory_limit)
    }

    /// A session for one query: its own memory pool and the lake options.
    pub fn session(&self, options: &LakeOptions) -> SessionState {
        let pool = TrackConsumersPool::new(
            GreedyMemoryPool::new(self.limits.memory_limit),
            NonZeroUsize::new(3).expect("non-zero"),
        );
        let runtime = RuntimeEnvBuilder::from_runtime_env(&self.runtime)
            .with_memory_pool(Arc::new(pool))
            .build_arc()
            .expect("a runtime from an existing one builds");
        let mut state = SessionStateBuilder::new_from_existing(self.ctx.state())
            .with_runtime_env(runtime)
            .build();
        if let Some(lake) = state
            .config_mut()
            .options_mut()
            .extensions
            .get_mut::<LakeOptions>()
        {
            *lake = options.clone();
        }
        state
    }

    /// Parses exactly one statement.
    pub fn parse(sql: &str) -> Result<Statement, QueryError> {
        let mut statements = DFParser::parse_sql_with_dialect(sql, &PostgreSqlDialect {})
            .map_err(|e| QueryError::Syntax(e.to_string()))?;
        if statements.len() != 1 {
            return Err(QueryError::StatementCount(statements.len()));
        }
        Ok(statements.pop_front().expect("one statement"))
    }

    /// Plans a statement after checking it is a read. Planning runs on the query runtime (its
    /// threads have deep stacks, and a long plan never blocks the protocols' threads); it is
    /// abandoned when the caller stops waiting.
    pub async fn plan(
        &self,
        statement: Statement,
        options: &LakeOptions,
    ) -> Result<LogicalPlan, QueryError> {
        guard::check_statement(&statement)?;
        let state = self.session(options);
        let planning = AbortOnDrop(
            self.executor
                .spawn(async move { state.statement_to_plan(statement).await }),
        );
        let plan = planning.join().await?.map_err(|e| self.error(e))?;
        guard::check_plan(&plan)
            .map_err(|e| QueryError::Refused(Refused::NotARead(e.strip_backtrace())))?;
        text_as_utf8(plan).map_err(|e| self.error(e))
    }

    /// Waits for a query slot.
    pub async fn slot(&self) -> Result<OwnedSemaphorePermit, QueryError> {
        tokio::time::timeout(
            self.limits.queue_timeout,
            self.slots.clone().acquire_owned(),
        )
        .await
        .map_err(|_| QueryError::Busy(self.limits.max_concurrent))?
        .map_err(|_| QueryError::Busy(self.limits.max_concurrent))
    }

    /// Runs a checked plan; the stream ends at the deadline or the row cap with an error.
    pub async fn execute(
        &self,
        plan: LogicalPlan,
        options: &LakeOptions,
        slot: OwnedSemaphorePermit,
        started: Instant,
    ) -> Result<QueryStream, QueryError> {
        let deadline = started + self.limits.timeout;
        let state = self.session(options);
        let pool = state.runtime_env().memory_pool.clone();
        // The query runs on the executor runtime: an operator that never yields then starves
        // only other queries, not the deadline, /health or the PostgreSQL port.
        let (batches, inner) = tokio::sync::mpsc::channel(2);
        let (schema_tx, schema_rx) = tokio::sync::oneshot::channel();
        let pool_of_task = pool.clone();
        let task = self.executor.spawn(async move {
            let run = async {
                let plan = state.optimize(&plan)?;
                let physical = state.create_physical_plan(&plan).await?;
                datafusion::physical_plan::execute_stream(physical, state.task_ctx())
            };
            match run.await {
                Err(e) => {
                    let _ = schema_tx.send(Err(e));
                }
                Ok(mut stream) => {
                    if schema_tx.send(Ok(stream.schema())).is_err() {
                        return;
                    }
                    // The batch on its way to the client counts against the query's pool, next
                    // to what the operators still hold.
                    let in_flight = MemoryConsumer::new("result batch").register(&pool_of_task);
                    while let Some(batch) = stream.next().await {
                        let batch = batch.and_then(|b| {
                            in_flight.try_resize(b.get_array_memory_size())?;
                            Ok(b)
                        });
                        let failed = batch.is_err();
                        if batches.send(batch).await.is_err() || failed {
                            return; // the client went away or the deadline passed
                        }
                    }
                }
            }
        });
        let schema = match tokio::time::timeout_at(deadline, schema_rx).await {
            Err(_) => {
                task.abort();
                return Err(QueryError::Timeout(self.limits.timeout));
            }
            Ok(Err(_)) => return Err(QueryError::Execution("the query task ended".into())),
            Ok(Ok(result)) => result.map_err(|e| self.error(e))?,
        };
        Ok(QueryStream {
            schema,
            inner,
            task,
            deadline: Box::pin(tokio::time::sleep_until(deadline)),
            limits: self.limits.clone(),
            rows: 0,
            done: false,
            pool,
            _slot: slot,
        })
    }

    /// Parses, checks, plans and runs one SQL statement.
    pub async fn sql(&self, sql: &str, options: &LakeOptions) -> Result<QueryStream, QueryError> {
        self.run(Self::parse(sql)?, options).await
    }

    /// `options` with every table's version resolved (see [`versions`](Self::versions)), so
    /// that each scan of a table reads the same snapshot even when a commit lands while the
    /// query runs.
    pub async fn pin(&self, options: &LakeOptions) -> Result<LakeOptions, QueryError> {
        let mut pinned = options.clone();
        pinned.versions = self
            .versions(options)
            .await?
            .into_iter()
            .map(|v| (v.table, v.version))
            .collect();
        Ok(pinned)
    }

    /// Checks, plans and runs one parsed statement within the limits, every table read at
    /// one version.
    pub async fn run(
        &self,
        statement: Statement,
        options: &LakeOptions,
    ) -> Result<QueryStream, QueryError> {
        let slot = self.slot().await?;
        let started = Instant::now();
        let prepared = async {
            let options = self.pin(options).await?;
            let plan = self.plan(statement, &options).await?;
            Ok::<_, QueryError>((plan, options))
        };
        let (plan, options) = tokio::time::timeout(self.limits.timeout, prepared)
            .await
            .map_err(|_| QueryError::Timeout(self.limits.timeout))??;
        self.execute(plan, &options, slot, started).await
    }

    /// Answers KPI `id` (see [`crate::catalog::Kpi::answer_sql`]).
    pub async fn kpi(
        &self,
        id: &str,
        params: &KpiParams,
        options: &LakeOptions,
    ) -> Result<QueryStream, QueryError> {
        let sql = self.catalog.kpi(id)?.answer_sql(params);
        self.sql(&sql, options).await
    }

    /// Answers KPI `id` for every district and, in the same answer, their roll-up to `city`
    /// (rows whose district is the city code), as [`kpi`](Self::kpi) with no district and with
    /// the city would: the KPI's own query runs once and both answers read its rows.
    pub async fn kpi_with_city(
        &self,
        id: &str,
        params: &KpiParams,
        city: &str,
        options: &LakeOptions,
    ) -> Result<Vec<RecordBatch>, QueryError> {
        let kpi = self.catalog.kpi(id)?;
        let params = KpiParams {
            district: None,
            ..params.clone()
        };
        // The code is put into SQL text: a city code (six digits, ending in 00) only.
        if !(city.len() == 6 && city.bytes().all(|b| b.is_ascii_digit()) && city.ends_with("00")) {
            return Err(CatalogError::BadParameter(format!("{city:?} is not a city code")).into());
        }
        let body = kpi.render(&params);
        let stream = self.sql(body.trim().trim_end_matches(';'), options).await?;
        let schema = stream.schema();
        let rows = stream.collect().await?;
        let ctx = SessionContext::new();
        let plan_error = |e: DataFusionError| self.error(e);
        let divisions = self
            .ctx
            .table_provider("divisions")
            .await
            .map_err(plan_error)?;
        ctx.register_table("divisions", divisions)
            .map_err(plan_error)?;
        let table = MemTable::try_new(schema, vec![rows]).map_err(plan_error)?;
        ctx.register_table("kpi_rows", Arc::new(table))
            .map_err(plan_error)?;
        let mut out = Vec::new();
        for district in [None, Some(city)] {
            let answer = ctx
                .sql(&answer_over("kpi_rows", district))
                .await
                .map_err(plan_error)?;
            out.extend(answer.collect().await.map_err(plan_error)?);
        }
        Ok(out)
    }
}

/// A state table's schema, every column nullable and text as `Utf8View` (how the state is read:
/// its files hold views, and grouping by short view strings compares them inline), with its
/// reference definition cast to it.
fn state_schema(reference: LogicalPlan) -> Result<(LogicalPlan, SchemaRef), DataFusionError> {
    use datafusion::logical_expr::{LogicalPlanBuilder, cast};
    use datafusion::prelude::Expr;
    let fields: Vec<_> = reference
        .schema()
        .fields()
        .iter()
        .map(|f| {
            let views = text_as(f.data_type(), &DataType::Utf8View);
            f.as_ref().clone().with_nullable(true).with_data_type(views)
        })
        .collect();
    let columns: Vec<Expr> = reference
        .schema()
        .columns()
        .into_iter()
        .zip(&fields)
        .map(|(column, field)| {
            let name = field.name().clone();
            cast(Expr::Column(column), field.data_type().clone()).alias(name)
        })
        .collect();
    let plan = LogicalPlanBuilder::from(reference)
        .project(columns)?
        .build()?;
    Ok((plan, Arc::new(Schema::new(fields))))
}

/// `data_type` with its text types, nested ones included, replaced by `text` (`Utf8View`: how
/// the Delta scan reads a column with view types forced).
fn text_as(data_type: &DataType, text: &DataType) -> DataType {
    let field = |f: &FieldRef| {
        Arc::new(
            f.as_ref()
                .clone()
                .with_data_type(text_as(f.data_type(), text)),
        )
    };
    match data_type {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => text.clone(),
        DataType::List(f) => DataType::List(field(f)),
        DataType::LargeList(f) => DataType::LargeList(field(f)),
        DataType::Struct(fields) => DataType::Struct(fields.iter().map(field).collect()),
        DataType::Map(f, sorted) => DataType::Map(field(f), *sorted),
        other => other.clone(),
    }
}

/// `plan` answering its view-typed text as `Utf8`, the type every client reads (a KPI's
/// district from a state table would otherwise reach Arrow and Parquet answers as
/// `string_view`, beside `string` columns).
fn text_as_utf8(plan: LogicalPlan) -> Result<LogicalPlan, DataFusionError> {
    use datafusion::logical_expr::{LogicalPlanBuilder, cast};
    use datafusion::prelude::Expr;
    let client = |t: &DataType| text_as(t, &DataType::Utf8);
    if plan
        .schema()
        .fields()
        .iter()
        .all(|f| &client(f.data_type()) == f.data_type())
    {
        return Ok(plan);
    }
    let columns: Vec<Expr> = plan
        .schema()
        .iter()
        .map(|(qualifier, field)| {
            let column = Expr::Column((qualifier, field).into());
            let wanted = client(field.data_type());
            if &wanted == field.data_type() {
                column
            } else {
                cast(column, wanted).alias_qualified(qualifier.cloned(), field.name())
            }
        })
        .collect();
    LogicalPlanBuilder::from(plan).project(columns)?.build()
}

/// The schema a Delta scan of a lake table reports, taken off an in-memory table created
/// with the columns the ingest services create it with (so a table that does not exist yet
/// has its schema too).
async fn scan_schema(
    row_schema: SchemaRef,
    partition_columns: &[&str],
) -> Result<SchemaRef, QueryError> {
    use deltalake::kernel::StructType;
    use deltalake::kernel::engine::arrow_conversion::TryIntoKernel;
    let fail = |e: String| QueryError::Plan(format!("lake table schema: {e}"));
    let columns: StructType = row_schema
        .as_ref()
        .try_into_kernel()
        .map_err(|e| fail(e.to_string()))?;
    let table = deltalake::DeltaTable::new_in_memory()
        .create()
        .with_columns(columns.fields().cloned())
        .with_partition_columns(partition_columns.iter().copied())
        .await
        .map_err(|e| fail(e.to_string()))?;
    crate::lake::scan_schema_of(&table).map_err(|e| fail(e.strip_backtrace()))
}

/// The batches of a running query, ended with an error at its deadline or row cap. Holds the
/// query's slot until dropped; dropping it cancels the query.
pub struct QueryStream {
    schema: SchemaRef,
    inner: tokio::sync::mpsc::Receiver<Result<RecordBatch, DataFusionError>>,
    task: tokio::task::JoinHandle<()>,
    deadline: Pin<Box<Sleep>>,
    limits: QueryLimits,
    rows: usize,
    done: bool,
    /// The query's memory pool: what [`QueryStream::collect`] holds counts against it.
    pool: Arc<dyn MemoryPool>,
    _slot: OwnedSemaphorePermit,
}

impl QueryStream {
    /// The result's schema.
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// Collects every batch (for small results: KPIs, tests, earlier statements of a
    /// multi-statement query). What it holds counts against the query's memory limit, so a
    /// large result fails with [`QueryError::MemoryLimit`] instead of growing.
    pub async fn collect(mut self) -> Result<Vec<RecordBatch>, QueryError> {
        let held = MemoryConsumer::new("collected result").register(&self.pool);
        let mut out = Vec::new();
        while let Some(batch) = self.next().await {
            let batch = batch?;
            held.try_grow(batch.get_array_memory_size())
                .map_err(|e| QueryError::from_datafusion(e, self.limits.memory_limit))?;
            out.push(batch);
        }
        Ok(out)
    }
}

/// A task of the query runtime, aborted when its awaiter goes away (e.g. at the time limit).
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> AbortOnDrop<T> {
    async fn join(mut self) -> Result<T, QueryError> {
        (&mut self.0)
            .await
            .map_err(|e| QueryError::Execution(format!("the query task ended: {e}")))
    }
}

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Drop for QueryStream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Stream for QueryStream {
    type Item = Result<RecordBatch, QueryError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        if self.deadline.as_mut().poll(cx).is_ready() {
            self.done = true;
            return Poll::Ready(Some(Err(QueryError::Timeout(self.limits.timeout))));
        }
        match self.inner.poll_recv(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(None) => {
                self.done = true;
                Poll::Ready(None)
            }
            Poll::Ready(Some(Err(e))) => {
                self.done = true;
                let limit = self.limits.memory_limit;
                Poll::Ready(Some(Err(QueryError::from_datafusion(e, limit))))
            }
            Poll::Ready(Some(Ok(batch))) => {
                self.rows += batch.num_rows();
                if self.rows > self.limits.max_rows {
                    self.done = true;
                    return Poll::Ready(Some(Err(QueryError::TooManyRows(self.limits.max_rows))));
                }
                Poll::Ready(Some(Ok(batch)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn engine(memory_limit: usize) -> (QueryEngine, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("lake dir");
        let lake = LakeSettings {
            root: dir.path().display().to_string(),
            ..LakeSettings::default()
        };
        let limits = QueryLimits {
            timeout: Duration::from_secs(30),
            memory_limit,
            max_concurrent: 1,
            queue_timeout: Duration::from_secs(1),
            max_rows: 10_000_000,
        };
        let engine = QueryEngine::open(&lake, &[WeightVersion::default()], limits)
            .await
            .expect("engine opens");
        (engine, dir)
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn collecting_a_result_counts_against_the_memory_limit() {
        let (engine, _dir) = engine(4 << 20).await;
        let options = LakeOptions::default();
        let sql =
            "SELECT concat('row ', CAST(value AS VARCHAR)) AS s FROM generate_series(1, 1000000)";
        let stream = engine.sql(sql, &options).await.expect("runs");
        match stream.collect().await {
            Err(QueryError::MemoryLimit { limit: 4, .. }) => {}
            other => panic!(
                "collect of ~20 MB under a 4 MiB limit: {:?}",
                other.map(|b| b.len())
            ),
        }
        // The slot and memory came back: a small result collects.
        let small = engine.sql("SELECT 1 AS one", &options).await.expect("runs");
        assert_eq!(small.collect().await.expect("collects").len(), 1);
        // Streamed batch by batch, the same result passes: each batch fits.
        let mut stream = engine.sql(sql, &options).await.expect("runs");
        let mut rows = 0;
        while let Some(batch) = stream.next().await {
            rows += batch.expect("a batch").num_rows();
        }
        assert_eq!(rows, 1_000_000);
    }

    #[test]
    fn error_texts_are_capped_at_a_character_boundary() {
        let short = QueryError::Plan("No field named x".into());
        assert_eq!(short.message(), "No field named x");
        let long = QueryError::Plan(format!("No field named {}", "列".repeat(100_000)));
        let message = long.message();
        assert!(message.len() <= MAX_ERROR_BYTES, "{} bytes", message.len());
        assert!(message.starts_with("No field named 列列"));
        assert!(
            message.ends_with("more bytes)"),
            "{}",
            &message[message.len() - 40..]
        );
    }

    /// A Delta scan would read and parse every column's page index again for each query.
    #[tokio::test(flavor = "multi_thread")]
    async fn parquet_page_indexes_are_not_read_unless_an_operator_asks() {
        if std::env::var_os("DATAFUSION_EXECUTION_PARQUET_ENABLE_PAGE_INDEX").is_some() {
            return;
        }
        let (engine, _dir) = engine(64 << 20).await;
        let sql = "SELECT value FROM information_schema.df_settings \
                   WHERE name = 'datafusion.execution.parquet.enable_page_index'";
        let batches = engine
            .sql(sql, &LakeOptions::default())
            .await
            .expect("runs")
            .collect()
            .await
            .expect("collects");
        let value =
            datafusion::arrow::util::display::array_value_to_string(batches[0].column(0), 0);
        assert_eq!(value.expect("renders"), "false");
    }

    /// The state tables read text as views; answers carry it as `Utf8`, nested text too.
    #[tokio::test(flavor = "multi_thread")]
    async fn answers_carry_text_as_utf8_whatever_the_scan_read() {
        let (engine, _dir) = engine(64 << 20).await;
        let sql = "SELECT arrow_cast('a', 'Utf8View') AS v, \
                   arrow_cast(['b'], 'List(Utf8View)') AS l, 'c' AS s, 1 AS n, \
                   t.ticket_id FROM hotline_ticket_state t";
        let stream = engine
            .sql(sql, &LakeOptions::default())
            .await
            .expect("runs");
        let types: Vec<DataType> = stream
            .schema()
            .fields()
            .iter()
            .map(|f| f.data_type().clone())
            .collect();
        let list = DataType::List(Arc::new(
            datafusion::arrow::datatypes::Field::new_list_field(DataType::Utf8, true),
        ));
        assert_eq!(
            types,
            [
                DataType::Utf8,
                list,
                DataType::Utf8,
                DataType::Int64,
                DataType::Utf8
            ]
        );
        stream.collect().await.expect("collects");
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn bombs_and_recursion_are_refused_by_the_engine() {
        let (engine, _dir) = engine(64 << 20).await;
        let options = LakeOptions::default();
        let refusal = |sql: &'static str| {
            let engine = &engine;
            let options = &options;
            async move {
                match engine.sql(sql, options).await {
                    Ok(stream) => stream.collect().await.err(),
                    Err(e) => Some(e),
                }
            }
        };
        assert!(matches!(
            refusal("SELECT length(repeat('x', 1000000000)) AS n").await,
            Some(QueryError::MemoryLimit { .. })
        ));
        assert!(matches!(
            refusal("SELECT cardinality(range(0, 200000000)) AS n").await,
            Some(QueryError::MemoryLimit { .. })
        ));
        assert!(matches!(
            refusal(
                "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT * FROM r"
            )
            .await,
            Some(QueryError::Refused(Refused::Recursive))
        ));
        assert!(
            refusal("SELECT length(repeat('x', 1000)) AS n")
                .await
                .is_none()
        );
    }
}
