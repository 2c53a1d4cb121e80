//! The PostgreSQL wire protocol, so psql, DBeaver, psycopg and `pandas.read_sql` can query.
//!
//! datafusion-postgres supplies the protocol, the `pg_catalog` tables clients probe at startup
//! and the handling of client settings and transactions. Queries themselves run through
//! [`QueryEngine`] with its checks and limits; every other statement is refused unless it is a
//! client setting (`SET application_name …`), `SHOW` or a transaction command. Engine options
//! (`SET datafusion.…`) are refused: the engine is shared by every connection.
//! `SET civicpulse.as_of = '2024-06-10T08:00:00+08:00'` makes the connection's later queries
//! read the lake as it was then; `SET civicpulse.as_of = 'latest'` undoes it.

use std::fmt::Debug;
use std::net::SocketAddr;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::{DFSchema, ParamValues};
use datafusion::logical_expr::{EmptyRelation, LogicalPlan};
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::{Set, Statement};
use datafusion_postgres::arrow_pg::datatypes::df::deserialize_parameters;
use datafusion_postgres::arrow_pg::datatypes::{arrow_schema_to_pg_fields, encode_recordbatch};
use datafusion_postgres::datafusion_pg_catalog::pg_catalog::setup_pg_catalog;
use datafusion_postgres::datafusion_pg_catalog::sql::PostgresCompatibilityParser;
use datafusion_postgres::hooks::HookClient;
use datafusion_postgres::hooks::set_show::SetShowHook;
use datafusion_postgres::hooks::transactions::TransactionStatementHook;
use datafusion_postgres::pgwire::api::auth::cleartext::CleartextPasswordAuthStartupHandler;
use datafusion_postgres::pgwire::api::auth::noop::NoopStartupHandler;
use datafusion_postgres::pgwire::api::auth::{
    AuthSource, DefaultServerParameterProvider, LoginInfo, Password, StartupHandler,
};
use datafusion_postgres::pgwire::api::cancel::DefaultCancelHandler;
use datafusion_postgres::pgwire::api::portal::{Format, Portal};
use datafusion_postgres::pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use datafusion_postgres::pgwire::api::results::{
    DataRowEncoder, FieldFormat, FieldInfo, QueryResponse, Response, Tag,
};
use datafusion_postgres::pgwire::api::store::PortalStore;
use datafusion_postgres::pgwire::api::{
    ClientInfo, ClientPortalStore, ConnectionManager, PgWireServerHandlers, Type,
};
use datafusion_postgres::pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use datafusion_postgres::pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use datafusion_postgres::pgwire::tokio::process_socket;
use datafusion_postgres::{DfSessionService, QueryHook};
use futures::{Sink, StreamExt, stream};
use tokio::net::TcpListener;

use crate::engine::{QueryEngine, QueryError, QueryStream};
use crate::guard::{self, Refused};
use crate::lake::{LakeOptions, parse_as_of};

/// Connection metadata key holding the connection's `civicpulse.as_of`.
const AS_OF: &str = "civicpulse.as_of";

/// Who may connect.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// User name.
    pub user: String,
    /// Password; `None` trusts every loopback client (the service refuses to listen elsewhere
    /// without one).
    pub password: Option<String>,
}

/// Serves the PostgreSQL protocol on `addr` until the process ends.
pub async fn serve(
    engine: Arc<QueryEngine>,
    addr: SocketAddr,
    credentials: Credentials,
) -> std::io::Result<()> {
    setup_pg_catalog(
        engine.context(),
        "civicpulse",
        datafusion_postgres::auth::AuthManager::new(),
    )
    .map_err(|e| std::io::Error::other(e.to_string()))?;
    let handlers = Arc::new(PgHandlers::new(engine, credentials));
    let listener = TcpListener::bind(addr).await?;
    tracing::info!(%addr, "PostgreSQL protocol listening");
    loop {
        let (socket, peer) = listener.accept().await?;
        let handlers = handlers.clone();
        tokio::spawn(async move {
            if let Err(e) = process_socket(socket, None, handlers).await {
                tracing::debug!(%peer, error = %e, "PostgreSQL connection ended");
            }
        });
    }
}

/// The pgwire handlers: our query path in front of datafusion-postgres' session service.
struct PgHandlers {
    queries: Arc<ReadOnlyService>,
    startup: Arc<Startup>,
    cancel: Arc<DefaultCancelHandler>,
}

impl PgHandlers {
    fn new(engine: Arc<QueryEngine>, credentials: Credentials) -> Self {
        let connections = Arc::new(ConnectionManager::new());
        let hooks: Vec<Arc<dyn QueryHook>> = vec![
            Arc::new(ReadOnlyHook {
                engine: engine.clone(),
            }),
            Arc::new(SetShowHook),
            Arc::new(TransactionStatementHook),
        ];
        // datafusion-postgres gets a context of its own: the statements it runs (client SETs)
        // can never change the engine every connection shares.
        let session = DfSessionService::new_with_hooks(Arc::new(SessionContext::new()), hooks);
        let startup = match credentials.password {
            Some(password) => Startup::Password(Box::new(
                CleartextPasswordAuthStartupHandler::new(
                    PasswordSource {
                        user: credentials.user,
                        password,
                    },
                    DefaultServerParameterProvider::default(),
                )
                .with_connection_manager(connections.clone()),
            )),
            None => Startup::Trust(TrustStartup {
                connections: connections.clone(),
            }),
        };
        Self {
            queries: Arc::new(ReadOnlyService {
                engine,
                session,
                parser: PostgresCompatibilityParser::new(),
            }),
            startup: Arc::new(startup),
            cancel: Arc::new(DefaultCancelHandler::new(connections)),
        }
    }
}

impl PgWireServerHandlers for PgHandlers {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        self.queries.clone()
    }

    fn extended_query_handler(&self) -> Arc<impl ExtendedQueryHandler> {
        self.queries.clone()
    }

    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        self.startup.clone()
    }

    fn cancel_handler(&self) -> Arc<impl datafusion_postgres::pgwire::api::cancel::CancelHandler> {
        self.cancel.clone()
    }
}

/// Password or trust authentication.
enum Startup {
    Password(
        Box<CleartextPasswordAuthStartupHandler<PasswordSource, DefaultServerParameterProvider>>,
    ),
    Trust(TrustStartup),
}

#[async_trait]
impl StartupHandler for Startup {
    async fn on_startup<C>(
        &self,
        client: &mut C,
        message: PgWireFrontendMessage,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        match self {
            Self::Password(h) => h.on_startup(client, message).await,
            Self::Trust(h) => h.on_startup(client, message).await,
        }
    }
}

struct TrustStartup {
    connections: Arc<ConnectionManager>,
}

#[async_trait]
impl NoopStartupHandler for TrustStartup {
    fn connection_manager(&self) -> Option<Arc<ConnectionManager>> {
        Some(self.connections.clone())
    }
}

#[derive(Debug)]
struct PasswordSource {
    user: String,
    password: String,
}

#[async_trait]
impl AuthSource for PasswordSource {
    async fn get_password(&self, login: &LoginInfo) -> PgWireResult<Password> {
        if login.user() != Some(self.user.as_str()) {
            return Err(user_error(
                "28P01",
                format!(
                    "password authentication failed for user \"{}\"",
                    login.user().unwrap_or("")
                ),
            ));
        }
        Ok(Password::new(None, self.password.as_bytes().to_vec()))
    }
}

fn user_error(code: &str, message: impl Into<String>) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "ERROR".into(),
        code.into(),
        message.into(),
    )))
}

/// A query error as PostgreSQL reports it, with the matching SQLSTATE.
fn pg_error(e: QueryError) -> PgWireError {
    let code = match &e {
        QueryError::Syntax(_) => "42601",
        QueryError::StatementCount(_) => "42601",
        QueryError::Refused(Refused::TooDeep) => "54001",
        QueryError::Refused(_) => "42501",
        QueryError::Catalog(_) => "22023",
        QueryError::Plan(_) => "42P01",
        QueryError::Timeout(_) => "57014",
        QueryError::MemoryLimit { .. } => "53200",
        QueryError::TooManyRows(_) => "54000",
        QueryError::Busy(_) => "53300",
        QueryError::Execution(_) => "XX000",
    };
    user_error(code, e.to_string())
}

/// What a statement from a client leads to.
enum Route {
    /// A read: through the engine.
    Run,
    /// `SET civicpulse.as_of`.
    SetAsOf(String),
    /// `SHOW civicpulse.as_of`.
    ShowAsOf,
    /// Client settings, `SHOW`, transactions: datafusion-postgres' hooks answer them.
    PassThrough,
    /// Anything else.
    Refuse(Refused),
}

/// Client settings a connection may `SET`: they only change how its answers are formatted.
const CLIENT_SETTINGS: &[&str] = &[
    "application_name",
    "bytea_output",
    "client_encoding",
    "client_min_messages",
    "datestyle",
    "extra_float_digits",
    "intervalstyle",
    "search_path",
    "statement_timeout",
    "timezone",
];

fn route(statement: &Statement) -> Route {
    match statement {
        Statement::Set(set) => match set {
            Set::SingleAssignment {
                variable, values, ..
            } => {
                // Quotes and case do not make another name: "DataFusion".x is datafusion.x.
                let name = variable
                    .0
                    .iter()
                    .map(|part| part.to_string().trim_matches('"').to_ascii_lowercase())
                    .collect::<Vec<_>>()
                    .join(".");
                if name == AS_OF {
                    let value = values
                        .first()
                        .map(|v| v.to_string().trim_matches('\'').to_owned())
                        .unwrap_or_default();
                    Route::SetAsOf(value)
                } else if CLIENT_SETTINGS.contains(&name.as_str()) {
                    Route::PassThrough
                } else {
                    Route::Refuse(Refused::NotARead(format!(
                        "SET {name} (only client settings and civicpulse.as_of may be set)"
                    )))
                }
            }
            Set::SetTimeZone { .. } | Set::SetNames { .. } => Route::PassThrough,
            other => Route::Refuse(Refused::NotARead(format!("{other}"))),
        },
        Statement::ShowVariable { variable }
            if variable
                .iter()
                .map(|v| v.value.as_str())
                .collect::<Vec<_>>()
                .join(".")
                .eq_ignore_ascii_case(AS_OF) =>
        {
            Route::ShowAsOf
        }
        Statement::ShowVariable { .. }
        | Statement::ShowStatus { .. }
        | Statement::ShowCatalogs { .. }
        | Statement::StartTransaction { .. }
        | Statement::Commit { .. }
        | Statement::Rollback { .. } => Route::PassThrough,
        other => match guard::check_ast(other) {
            Ok(()) => Route::Run,
            Err(refused) => Route::Refuse(refused),
        },
    }
}

fn options_of(client: &(impl ClientInfo + ?Sized)) -> PgWireResult<LakeOptions> {
    let as_of = match client.metadata().get(AS_OF) {
        None => None,
        Some(v) => Some(parse_as_of(v).map_err(|e| user_error("22023", e))?),
    };
    Ok(LakeOptions {
        as_of,
        ..LakeOptions::default()
    })
}

fn set_as_of(client: &mut (impl ClientInfo + ?Sized), value: &str) -> PgWireResult<Response> {
    match value.trim() {
        "" | "latest" | "none" | "DEFAULT" | "default" => {
            client.metadata_mut().remove(AS_OF);
        }
        v => {
            let t = parse_as_of(v).map_err(|e| user_error("22023", e))?;
            client.metadata_mut().insert(AS_OF.into(), t.to_rfc3339());
        }
    }
    Ok(Response::Execution(Tag::new("SET")))
}

fn show_as_of(client: &(impl ClientInfo + ?Sized)) -> PgWireResult<Response> {
    let fields = Arc::new(vec![FieldInfo::new(
        AS_OF.into(),
        None,
        None,
        Type::VARCHAR,
        FieldFormat::Text,
    )]);
    let value = client
        .metadata()
        .get(AS_OF)
        .cloned()
        .unwrap_or_else(|| "latest".into());
    let mut encoder = DataRowEncoder::new(fields.clone());
    encoder.encode_field(&Some(value))?;
    let row = encoder.take_row();
    Ok(Response::Query(QueryResponse::new(
        fields,
        stream::once(async move { Ok(row) }),
    )))
}

/// Encodes a running query as pgwire rows; an error mid-stream reaches the client as an
/// `ErrorResponse`.
fn encode(stream: QueryStream, format: &Format) -> PgWireResult<Response> {
    let fields = Arc::new(arrow_schema_to_pg_fields(
        stream.schema().as_ref(),
        format,
        None,
    )?);
    let rows_fields = fields.clone();
    let rows = stream
        .map(
            move |batch| -> Box<dyn Iterator<Item = PgWireResult<_>> + Send + Sync> {
                match batch {
                    Ok(batch) => encode_recordbatch(rows_fields.clone(), batch),
                    Err(e) => Box::new(std::iter::once(Err(pg_error(e)))),
                }
            },
        )
        .flat_map(stream::iter);
    Ok(Response::Query(QueryResponse::new(fields, rows)))
}

/// Encodes a result already read in full.
fn encode_batches(
    schema: datafusion::arrow::datatypes::SchemaRef,
    batches: Vec<datafusion::arrow::record_batch::RecordBatch>,
    format: &Format,
) -> PgWireResult<Response> {
    let fields = Arc::new(arrow_schema_to_pg_fields(schema.as_ref(), format, None)?);
    let rows_fields = fields.clone();
    let rows = stream::iter(batches)
        .map(move |batch| encode_recordbatch(rows_fields.clone(), batch))
        .flat_map(stream::iter);
    Ok(Response::Query(QueryResponse::new(fields, rows)))
}

/// Simple and extended query handling: reads through the engine, the rest through
/// datafusion-postgres.
struct ReadOnlyService {
    engine: Arc<QueryEngine>,
    session: DfSessionService,
    parser: PostgresCompatibilityParser,
}

impl ReadOnlyService {
    async fn start(
        &self,
        client: &(impl ClientInfo + ?Sized),
        statement: Statement,
    ) -> PgWireResult<QueryStream> {
        let options = options_of(client)?;
        self.engine
            .run(DfStatement::Statement(Box::new(statement)), &options)
            .await
            .map_err(pg_error)
    }
}

#[async_trait]
impl SimpleQueryHandler for ReadOnlyService {
    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let statements = self
            .parser
            .parse(query)
            .map_err(|e| pg_error(QueryError::Syntax(e.to_string())))?;
        if statements.is_empty() {
            return Ok(vec![Response::EmptyQuery]);
        }
        let mut responses = Vec::new();
        let last = statements.len() - 1;
        for (i, statement) in statements.into_iter().enumerate() {
            let response = match route(&statement) {
                // Responses are sent after the last statement ran: earlier results are read
                // now, so their query slots are free for the next statement.
                Route::Run if i < last => {
                    let stream = self.start(client, statement).await?;
                    let schema = stream.schema();
                    let batches = stream.collect().await.map_err(pg_error)?;
                    encode_batches(schema, batches, &Format::UnifiedText)?
                }
                Route::Run => {
                    let stream = self.start(client, statement).await?;
                    encode(stream, &Format::UnifiedText)?
                }
                Route::SetAsOf(v) => set_as_of(client, &v)?,
                Route::ShowAsOf => show_as_of(client)?,
                Route::Refuse(r) => return Err(pg_error(r.into())),
                Route::PassThrough => {
                    let mut out =
                        SimpleQueryHandler::do_query(&self.session, client, &statement.to_string())
                            .await?;
                    match out.pop() {
                        Some(r) => r,
                        None => continue,
                    }
                }
            };
            responses.push(response);
        }
        Ok(responses)
    }
}

#[async_trait]
impl ExtendedQueryHandler for ReadOnlyService {
    type Statement = <DfSessionService as ExtendedQueryHandler>::Statement;
    type QueryParser = <DfSessionService as ExtendedQueryHandler>::QueryParser;

    fn query_parser(&self) -> Arc<Self::QueryParser> {
        self.session.query_parser()
    }

    async fn do_query<C>(
        &self,
        client: &mut C,
        portal: &Portal<Self::Statement>,
        max_rows: usize,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let Some((statement, plan)) = &portal.statement.statement.1 else {
            return Ok(Response::EmptyQuery);
        };
        match route(statement) {
            Route::Run => {
                let types = parameter_types(plan)?;
                let refs: Vec<Option<&DataType>> = types.iter().map(Option::as_ref).collect();
                let params = deserialize_parameters(portal, &refs)?;
                let plan = plan
                    .clone()
                    .replace_params_with_values(&params)
                    .map_err(|e| user_error("22023", e.strip_backtrace()))?;
                let options = options_of(client)?;
                let engine = &self.engine;
                let slot = engine.slot().await.map_err(pg_error)?;
                let started = tokio::time::Instant::now();
                let stream = engine
                    .execute(plan, &options, slot, started)
                    .await
                    .map_err(pg_error)?;
                encode(stream, &portal.result_column_format)
            }
            Route::SetAsOf(v) => set_as_of(client, &v),
            Route::ShowAsOf => show_as_of(client),
            Route::Refuse(r) => Err(pg_error(r.into())),
            Route::PassThrough => {
                ExtendedQueryHandler::do_query(&self.session, client, portal, max_rows).await
            }
        }
    }
}

/// The plan's parameter types in `$1, $2 …` order.
fn parameter_types(plan: &LogicalPlan) -> PgWireResult<Vec<Option<DataType>>> {
    let types = plan
        .get_parameter_types()
        .map_err(|e| user_error("22023", e.strip_backtrace()))?;
    let mut ordered: Vec<(usize, Option<DataType>)> = types
        .into_iter()
        .filter_map(|(id, t)| Some((id.trim_start_matches('$').parse().ok()?, t)))
        .collect();
    ordered.sort_by_key(|(i, _)| *i);
    Ok(ordered.into_iter().map(|(_, t)| t).collect())
}

/// Plans reads through the engine (so refusals come at Parse, before Bind) and answers the
/// describe step of `SET`/`SHOW civicpulse.as_of`.
struct ReadOnlyHook {
    engine: Arc<QueryEngine>,
}

fn empty_plan(columns: &[&str]) -> PgWireResult<LogicalPlan> {
    let schema = Schema::new(
        columns
            .iter()
            .map(|c| Field::new(*c, DataType::Utf8, false))
            .collect::<Vec<_>>(),
    );
    let schema = DFSchema::try_from(schema).map_err(|e| user_error("XX000", e.to_string()))?;
    Ok(LogicalPlan::EmptyRelation(EmptyRelation {
        produce_one_row: true,
        schema: Arc::new(schema),
    }))
}

#[async_trait]
impl QueryHook for ReadOnlyHook {
    async fn handle_simple_query(
        &self,
        _statement: &Statement,
        _ctx: &SessionContext,
        _client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        None // ReadOnlyService routes simple queries before datafusion-postgres sees them
    }

    async fn handle_extended_parse_query(
        &self,
        statement: &Statement,
        _ctx: &SessionContext,
        client: &(dyn ClientInfo + Send + Sync),
    ) -> Option<PgWireResult<LogicalPlan>> {
        match route(statement) {
            Route::Run => {
                let options = match options_of(client) {
                    Ok(o) => o,
                    Err(e) => return Some(Err(e)),
                };
                let plan = self
                    .engine
                    .plan(
                        DfStatement::Statement(Box::new(statement.clone())),
                        &options,
                    )
                    .await;
                Some(plan.map_err(pg_error))
            }
            Route::SetAsOf(_) => Some(empty_plan(&[])),
            Route::ShowAsOf => Some(empty_plan(&[AS_OF])),
            Route::Refuse(r) => Some(Err(pg_error(r.into()))),
            Route::PassThrough => None,
        }
    }

    async fn handle_extended_query(
        &self,
        _statement: &Statement,
        _plan: &LogicalPlan,
        _params: &ParamValues,
        _ctx: &SessionContext,
        _client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        None // ReadOnlyService executes before datafusion-postgres sees the portal
    }
}
