//! The PostgreSQL wire protocol, so psql, DBeaver, psycopg and `pandas.read_sql` can query.
//!
//! datafusion-postgres supplies the protocol (pgwire), the `pg_catalog` tables clients probe at
//! startup (registered in the engine's own context) and the Arrow-to-PostgreSQL encoders; it
//! never runs SQL here. Every statement is parsed once and acted on as parsed: reads run
//! through [`QueryEngine`] with its checks and limits, by the simple protocol and by the
//! extended one (Parse/Bind/Execute) alike; client settings (`SET application_name …`),
//! `SHOW` and transaction commands are answered by [`session`] from the connection's
//! metadata; everything else is refused.
//! `SET civicpulse.as_of = '2024-06-10T08:00:00+08:00'` makes the connection's later queries
//! read the lake as it was then; `SET civicpulse.as_of = 'latest'` undoes it.
//!
//! With a password, clients log in with SCRAM-SHA-256 (the password never crosses the
//! network); with a certificate and key, the port speaks TLS and refuses plaintext.

mod session;

use std::collections::HashMap;
use std::fmt::Debug;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::logical_expr::LogicalPlan;
use datafusion::sql::parser::Statement as DfStatement;
use datafusion_postgres::arrow_pg::datatypes::df::deserialize_parameters;
use datafusion_postgres::arrow_pg::datatypes::{
    arrow_schema_to_pg_fields, encode_recordbatch, into_pg_type,
};
use datafusion_postgres::datafusion_pg_catalog::pg_catalog::setup_pg_catalog;
use datafusion_postgres::datafusion_pg_catalog::sql::PostgresCompatibilityParser;
use datafusion_postgres::pgwire::api::auth::noop::NoopStartupHandler;
use datafusion_postgres::pgwire::api::auth::sasl::SASLAuthStartupHandler;
use datafusion_postgres::pgwire::api::auth::sasl::scram::{
    ScramAuth, gen_salted_password, random_nonce,
};
use datafusion_postgres::pgwire::api::auth::{
    AuthSource, DefaultServerParameterProvider, LoginInfo, Password, StartupHandler,
};
use datafusion_postgres::pgwire::api::cancel::CancelHandler;
use datafusion_postgres::pgwire::api::portal::{Format, Portal};
use datafusion_postgres::pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use datafusion_postgres::pgwire::api::results::{FieldInfo, QueryResponse, Response};
use datafusion_postgres::pgwire::api::stmt::QueryParser;
use datafusion_postgres::pgwire::api::store::PortalStore;
use datafusion_postgres::pgwire::api::{
    ClientInfo, ClientPortalStore, ConnectionManager, PgWireServerHandlers, Type,
};
use datafusion_postgres::pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use datafusion_postgres::pgwire::messages::cancel::CancelRequest;
use datafusion_postgres::pgwire::messages::startup::ParameterStatus;
use datafusion_postgres::pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
/// The PostgreSQL port's TLS acceptor (tokio-rustls, as pgwire takes it).
pub use datafusion_postgres::pgwire::tokio::TlsAcceptor;
use datafusion_postgres::pgwire::tokio::process_socket;
use datafusion_postgres::pgwire::tokio::tokio_rustls::rustls;
use futures::{Sink, SinkExt, StreamExt, stream};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::engine::{QueryEngine, QueryError, QueryStream};
use crate::lake::{LakeOptions, parse_as_of};
use session::{Command, SessionError};

/// Who may connect, and how.
#[derive(Clone)]
pub struct Credentials {
    /// User name.
    pub user: String,
    /// Password (SCRAM-SHA-256); `None` trusts every loopback client (the service refuses to
    /// listen elsewhere without one).
    pub password: Option<String>,
    /// TLS; when set, plaintext connections are refused.
    pub tls: Option<Tls>,
}

/// The PostgreSQL port's TLS: see [`Tls::from_pem_files`].
#[derive(Clone)]
pub struct Tls {
    acceptor: TlsAcceptor,
    /// The certificate chain, for SCRAM channel binding (`SCRAM-SHA-256-PLUS`).
    cert_pem: Arc<[u8]>,
}

/// Why the PostgreSQL port cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum PgSetupError {
    /// A certificate or key file cannot be read or holds no usable PEM.
    #[error("query.tls_{what}_path {path}: {source}")]
    Pem {
        /// `cert` or `key`.
        what: &'static str,
        /// The file.
        path: String,
        /// Why.
        source: rustls::pki_types::pem::Error,
    },
    /// The certificate file holds no certificate.
    #[error("query.tls_cert_path {0}: no certificate in the file")]
    NoCertificate(String),
    /// rustls refuses the certificate and key.
    #[error("TLS certificate and key: {0}")]
    Tls(#[from] rustls::Error),
}

impl Tls {
    /// TLS from PEM files: a certificate chain and its private key.
    pub fn from_pem_files(cert_path: &Path, key_path: &Path) -> Result<Self, PgSetupError> {
        let cert_pem = std::fs::read(cert_path).map_err(|e| PgSetupError::Pem {
            what: "cert",
            path: cert_path.display().to_string(),
            source: rustls::pki_types::pem::Error::Io(e),
        })?;
        Ok(Self {
            acceptor: tls_acceptor(cert_path, key_path)?,
            cert_pem: cert_pem.into(),
        })
    }
}

fn tls_acceptor(cert_path: &Path, key_path: &Path) -> Result<TlsAcceptor, PgSetupError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let pem_error = |what, path: &Path| {
        let path = path.display().to_string();
        move |source| PgSetupError::Pem { what, path, source }
    };
    let certs = CertificateDer::pem_file_iter(cert_path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(pem_error("cert", cert_path))?;
    if certs.is_empty() {
        return Err(PgSetupError::NoCertificate(cert_path.display().to_string()));
    }
    let key = PrivateKeyDer::from_pem_file(key_path).map_err(pem_error("key", key_path))?;
    // rustls is built with two crypto providers here (ring, aws-lc-rs): name one.
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_single_cert(certs, key)?;
    // PostgreSQL 17's direct TLS negotiation (`sslnegotiation=direct`) requires this ALPN.
    config.alpn_protocols = vec![b"postgresql".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Serves the PostgreSQL protocol on `addr` until the process ends.
pub async fn serve(
    engine: Arc<QueryEngine>,
    addr: SocketAddr,
    access: Credentials,
) -> std::io::Result<()> {
    setup_pg_catalog(
        engine.context(),
        "civicpulse",
        datafusion_postgres::auth::AuthManager::new(),
    )
    .map_err(|e| std::io::Error::other(format!("pg_catalog: {e}")))?;
    let listener = TcpListener::bind(addr).await?;
    tracing::info!(
        %addr,
        tls = access.tls.is_some(),
        password = access.password.is_some(),
        "PostgreSQL protocol listening"
    );
    let server = Arc::new(PgServer::new(engine, &access));
    loop {
        let (socket, peer) = listener.accept().await?;
        let handlers = server.connection();
        let tls = access.tls.as_ref().map(|t| t.acceptor.clone());
        tokio::spawn(async move {
            if let Err(e) = process_socket(socket, tls, handlers).await {
                tracing::debug!(%peer, error = %e, "PostgreSQL connection ended");
            }
        });
    }
}

/// What every connection shares.
struct PgServer {
    queries: Arc<ReadOnlyService>,
    connections: Arc<ConnectionManager>,
    cancels: Arc<Cancels>,
    scram: Option<Arc<ScramPassword>>,
    /// The certificate SCRAM binds to, when it can (RSA and ECDSA signatures).
    channel_binding: Option<Arc<[u8]>>,
    require_tls: bool,
}

impl PgServer {
    fn new(engine: Arc<QueryEngine>, access: &Credentials) -> Self {
        let connections = Arc::new(ConnectionManager::new());
        let cancels = Arc::new(Cancels {
            connections: connections.clone(),
            running: Default::default(),
        });
        Self {
            queries: Arc::new(ReadOnlyService {
                parser: Arc::new(ReadOnlyParser {
                    engine,
                    sql: PostgresCompatibilityParser::new(),
                }),
                cancels: cancels.clone(),
            }),
            cancels,
            connections,
            scram: access
                .password
                .as_deref()
                .map(|p| Arc::new(ScramPassword::new(&access.user, p))),
            channel_binding: access
                .tls
                .as_ref()
                .map(|t| t.cert_pem.clone())
                .filter(|pem| match ScramAuth::new(Arc::new(NoPassword)).configure_certificate(pem) {
                    Ok(()) => true,
                    Err(e) => {
                        tracing::warn!(error = %e, "SCRAM channel binding is off for this certificate");
                        false
                    }
                }),
            require_tls: access.tls.is_some(),
        }
    }

    /// The handlers of one connection: the SCRAM exchange has state of its own.
    fn connection(&self) -> PgHandlers {
        let auth = match &self.scram {
            Some(password) => {
                let mut scram = ScramAuth::new(password.clone());
                if let Some(pem) = &self.channel_binding {
                    // Checked in `new`: this certificate configures.
                    let _ = scram.configure_certificate(pem);
                }
                Auth::Scram(Box::new(
                    SASLAuthStartupHandler::new(Arc::new(session::server_parameters()))
                        .with_scram(scram)
                        .with_connection_manager(self.connections.clone()),
                ))
            }
            None => Auth::Trust(TrustStartup {
                connections: self.connections.clone(),
            }),
        };
        PgHandlers {
            queries: self.queries.clone(),
            startup: Arc::new(Startup {
                auth,
                require_tls: self.require_tls,
            }),
            cancels: self.cancels.clone(),
        }
    }
}

/// The pgwire handlers of one connection.
struct PgHandlers {
    queries: Arc<ReadOnlyService>,
    startup: Arc<Startup>,
    cancels: Arc<Cancels>,
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

    fn cancel_handler(&self) -> Arc<impl CancelHandler> {
        self.cancels.clone()
    }
}

/// SCRAM or trust authentication, over TLS only when TLS is configured.
struct Startup {
    auth: Auth,
    require_tls: bool,
}

enum Auth {
    Scram(Box<SASLAuthStartupHandler<DefaultServerParameterProvider>>),
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
        if self.require_tls && !client.is_secure() {
            return Err(PgWireError::UserError(Box::new(ErrorInfo::new(
                "FATAL".into(),
                "28000".into(),
                "kpi-query accepts only TLS connections: connect with sslmode=require or \
                 sslmode=verify-full"
                    .into(),
            ))));
        }
        match &self.auth {
            Auth::Scram(h) => h.on_startup(client, message).await,
            Auth::Trust(h) => h.on_startup(client, message).await,
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

/// The salted password SCRAM-SHA-256 checks a client's proof against, derived once at start;
/// the password itself is never compared.
#[derive(Debug)]
struct ScramPassword {
    user: String,
    salt: Vec<u8>,
    salted: Vec<u8>,
    /// What a wrong user is checked against, so it fails at the same step as a wrong password.
    decoy: Vec<u8>,
}

/// An [`AuthSource`] for checking a certificate only.
#[derive(Debug)]
struct NoPassword;

#[async_trait]
impl AuthSource for NoPassword {
    async fn get_password(&self, _login: &LoginInfo) -> PgWireResult<Password> {
        Err(user_error("28P01", "password authentication failed"))
    }
}

/// PBKDF2 iterations of the salted password: pgwire's (and PostgreSQL's) default.
const SCRAM_ITERATIONS: usize =
    datafusion_postgres::pgwire::api::auth::sasl::scram::SCRAM_ITERATIONS;

impl ScramPassword {
    fn new(user: &str, password: &str) -> Self {
        let salt = random_nonce().into_bytes();
        Self {
            user: user.to_owned(),
            salted: gen_salted_password(password, &salt, SCRAM_ITERATIONS),
            decoy: gen_salted_password(&random_nonce(), &salt, SCRAM_ITERATIONS),
            salt,
        }
    }
}

#[async_trait]
impl AuthSource for ScramPassword {
    async fn get_password(&self, login: &LoginInfo) -> PgWireResult<Password> {
        let salted = if login.user() == Some(self.user.as_str()) {
            &self.salted
        } else {
            &self.decoy
        };
        Ok(Password::new(Some(self.salt.clone()), salted.clone()))
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
        QueryError::Refused(r) => return SessionError::from(r.clone()).into(),
        QueryError::Catalog(_) => "22023",
        QueryError::Plan(_) => "42P01",
        QueryError::Timeout(_) => "57014",
        QueryError::MemoryLimit { .. } => "53200",
        QueryError::TooManyRows(_) => "54000",
        QueryError::Busy(_) => "53300",
        QueryError::Execution(_) => "XX000",
    };
    user_error(code, e.message())
}

/// The lake options of the connection's next query.
fn options_of(client: &(impl ClientInfo + ?Sized)) -> PgWireResult<LakeOptions> {
    let as_of = match session::as_of(client) {
        None => None,
        Some(v) => Some(parse_as_of(v).map_err(|e| user_error("22023", e))?),
    };
    Ok(LakeOptions {
        as_of,
        ..LakeOptions::default()
    })
}

/// Encodes a running query as pgwire rows; an error mid-stream (a cancel request included)
/// reaches the client as an `ErrorResponse` after the rows already sent, never as a complete
/// answer.
fn encode(
    stream: QueryStream,
    cancel: watch::Receiver<u64>,
    format: &Format,
) -> PgWireResult<Response> {
    let fields = Arc::new(arrow_schema_to_pg_fields(
        stream.schema().as_ref(),
        format,
        None,
    )?);
    let rows_fields = fields.clone();
    let rows = until_cancelled(stream, cancel)
        .map(
            move |batch| -> Box<dyn Iterator<Item = PgWireResult<_>> + Send + Sync> {
                match batch {
                    Ok(batch) => encode_recordbatch(rows_fields.clone(), batch),
                    Err(e) => Box::new(std::iter::once(Err(e))),
                }
            },
        )
        .flat_map(stream::iter);
    Ok(Response::Query(QueryResponse::new(fields, rows)))
}

/// The query's batches until it ends or the client cancels it; dropping the query stream
/// aborts the query and frees its slot.
fn until_cancelled(
    stream: QueryStream,
    cancel: watch::Receiver<u64>,
) -> impl futures::Stream<Item = PgWireResult<datafusion::arrow::record_batch::RecordBatch>> {
    stream::unfold(Some((stream, cancel)), |state| async move {
        let (mut stream, mut cancel) = state?;
        tokio::select! {
            biased;
            Ok(()) = cancel.changed() => Some((Err(cancelled()), None)),
            batch = stream.next() => batch.map(|b| (b.map_err(pg_error), Some((stream, cancel)))),
        }
    })
}

fn cancelled() -> PgWireError {
    user_error("57014", "canceling statement due to user request")
}

/// Cancel requests for the query a connection is streaming.
///
/// pgwire's own cancel stops a query only until its response starts; the rows of a
/// `QueryStream` are computed while they are sent, so a cancel must reach the stream too.
struct Cancels {
    connections: Arc<ConnectionManager>,
    running: std::sync::Mutex<HashMap<(i32, bytes::Bytes), watch::Sender<u64>>>,
}

impl Cancels {
    /// A receiver that changes when the client sends a cancel request; the connection stays
    /// registered until it ends.
    fn watch(self: &Arc<Self>, client: &(impl ClientInfo + ?Sized)) -> watch::Receiver<u64> {
        let (pid, secret) = client.pid_and_secret_key();
        let key = (pid, secret.to_bytes());
        let mut running = self.running.lock().expect("cancel registry");
        if let Some(sender) = running.get(&key) {
            return sender.subscribe();
        }
        let (sender, receiver) = watch::channel(0);
        running.insert(key.clone(), sender);
        client.session_extensions().insert(CancelRegistration {
            key,
            cancels: self.clone(),
        });
        receiver
    }
}

#[async_trait]
impl CancelHandler for Cancels {
    async fn on_cancel_request(&self, request: CancelRequest) {
        self.connections
            .cancel(request.pid, &request.secret_key)
            .await;
        let key = (request.pid, request.secret_key.to_bytes());
        if let Some(sender) = self.running.lock().expect("cancel registry").get(&key) {
            sender.send_modify(|n| *n += 1);
        }
    }
}

/// Removes a connection from [`Cancels`] when the connection ends.
struct CancelRegistration {
    key: (i32, bytes::Bytes),
    cancels: Arc<Cancels>,
}

impl Drop for CancelRegistration {
    fn drop(&mut self) {
        if let Ok(mut running) = self.cancels.running.lock() {
            running.remove(&self.key);
        }
    }
}

/// Encodes a result already read in full.
fn encode_batches(
    schema: SchemaRef,
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

/// Answers a command that is not a read, sending the `ParameterStatus` a `SET` reports.
async fn answer<C>(client: &mut C, command: &Command) -> PgWireResult<Response>
where
    C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    let (response, status) = command.answer(client)?;
    if let Some((name, value)) = status {
        client
            .feed(PgWireBackendMessage::ParameterStatus(ParameterStatus::new(
                name, value,
            )))
            .await?;
    }
    Ok(response)
}

/// Simple and extended query handling, both through the engine.
struct ReadOnlyService {
    parser: Arc<ReadOnlyParser>,
    cancels: Arc<Cancels>,
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
        let commands = self.parser.commands(query)?;
        if commands.is_empty() {
            return Ok(vec![Response::EmptyQuery]);
        }
        let engine = &self.parser.engine;
        let mut responses = Vec::new();
        let last = commands.len() - 1;
        for (i, command) in commands.into_iter().enumerate() {
            let response = match &command {
                Command::Read(statement) => {
                    session::check_not_aborted(client)?;
                    let statement = DfStatement::Statement(Box::new(statement.as_ref().clone()));
                    let stream = engine
                        .run(statement, &options_of(client)?)
                        .await
                        .map_err(pg_error)?;
                    if i < last {
                        // Responses are sent after the last statement ran: earlier results
                        // are read now, so their query slots are free for the next statement.
                        let schema = stream.schema();
                        let batches = stream.collect().await.map_err(pg_error)?;
                        encode_batches(schema, batches, &Format::UnifiedText)?
                    } else {
                        encode(stream, self.cancels.watch(client), &Format::UnifiedText)?
                    }
                }
                other => answer(client, other).await?,
            };
            responses.push(response);
        }
        Ok(responses)
    }
}

#[async_trait]
impl ExtendedQueryHandler for ReadOnlyService {
    type Statement = Prepared;
    type QueryParser = ReadOnlyParser;

    fn query_parser(&self) -> Arc<Self::QueryParser> {
        self.parser.clone()
    }

    async fn do_query<C>(
        &self,
        client: &mut C,
        portal: &Portal<Self::Statement>,
        _max_rows: usize,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        match &portal.statement.statement.command {
            Command::Read(statement) => {
                session::check_not_aborted(client)?;
                let options = options_of(client)?;
                let stream = self
                    .parser
                    .execute(statement, &options, |plan| bind(plan, portal))
                    .await?;
                encode(
                    stream,
                    self.cancels.watch(client),
                    &portal.result_column_format,
                )
            }
            other => answer(client, other).await,
        }
    }
}

/// `plan` with the portal's parameter values in place of `$1, $2 …`.
fn bind(plan: LogicalPlan, portal: &Portal<Prepared>) -> PgWireResult<LogicalPlan> {
    let types = parameter_types(&plan)?;
    let refs: Vec<Option<&DataType>> = types.iter().map(Option::as_ref).collect();
    let params = deserialize_parameters(portal, &refs)?;
    plan.replace_params_with_values(&params)
        .map_err(|e| user_error("22023", e.strip_backtrace()))
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

/// A statement of the extended protocol, as Parse left it.
#[derive(Debug, Clone)]
pub struct Prepared {
    command: Command,
    /// Parameter types, as the plan made at Parse infers them (for Describe).
    parameters: Vec<Type>,
    /// The result's columns, as the plan made at Parse has them (for Describe).
    columns: Option<SchemaRef>,
}

/// Parses statements into [`Command`]s and plans reads, within a slot and the time limit.
struct ReadOnlyParser {
    engine: Arc<QueryEngine>,
    sql: PostgresCompatibilityParser,
}

impl ReadOnlyParser {
    /// The commands of a query text, each checked.
    fn commands(&self, query: &str) -> PgWireResult<Vec<Command>> {
        let statements = self
            .sql
            .parse(query)
            .map_err(|e| pg_error(QueryError::Syntax(e.to_string())))?;
        statements
            .into_iter()
            .map(|s| Command::of(s).map_err(PgWireError::from))
            .collect()
    }

    /// Plans and runs a read like [`QueryEngine::run`] does (slot first, then the deadline
    /// from before the versions are pinned and the statement planned), with `bind` applied to
    /// the plan.
    async fn execute(
        &self,
        statement: &Arc<datafusion::sql::sqlparser::ast::Statement>,
        options: &LakeOptions,
        bind: impl FnOnce(LogicalPlan) -> PgWireResult<LogicalPlan>,
    ) -> PgWireResult<QueryStream> {
        let engine = &self.engine;
        let slot = engine.slot().await.map_err(pg_error)?;
        let started = Instant::now();
        let timeout = engine.limits().timeout;
        let prepared = async {
            let options = engine.pin(options).await?;
            let plan = engine
                .plan(
                    DfStatement::Statement(Box::new(statement.as_ref().clone())),
                    &options,
                )
                .await?;
            Ok::<_, QueryError>((plan, options))
        };
        let (plan, options) = tokio::time::timeout_at(started + timeout, prepared)
            .await
            .map_err(|_| pg_error(QueryError::Timeout(timeout)))?
            .map_err(pg_error)?;
        let plan = bind(plan)?;
        engine
            .execute(plan, &options, slot, started)
            .await
            .map_err(pg_error)
    }

    /// Plans a read for Describe, within a slot and the time limit.
    async fn describe(
        &self,
        statement: &datafusion::sql::sqlparser::ast::Statement,
        options: &LakeOptions,
    ) -> PgWireResult<LogicalPlan> {
        let engine = &self.engine;
        let _slot = engine.slot().await.map_err(pg_error)?;
        let timeout = engine.limits().timeout;
        let plan = engine.plan(DfStatement::Statement(Box::new(statement.clone())), options);
        tokio::time::timeout(timeout, plan)
            .await
            .map_err(|_| pg_error(QueryError::Timeout(timeout)))?
            .map_err(pg_error)
    }
}

#[async_trait]
impl QueryParser for ReadOnlyParser {
    type Statement = Prepared;

    async fn parse_sql<C>(
        &self,
        client: &C,
        sql: &str,
        _types: &[Option<Type>],
    ) -> PgWireResult<Option<Self::Statement>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        let mut commands = self.commands(sql)?;
        if commands.len() > 1 {
            return Err(user_error(
                "42601",
                "cannot insert multiple commands into a prepared statement",
            ));
        }
        let Some(command) = commands.pop() else {
            return Ok(None);
        };
        let (parameters, columns) = match &command {
            Command::Read(statement) => {
                let plan = self.describe(statement, &options_of(client)?).await?;
                let parameters = parameter_types(&plan)?
                    .iter()
                    .map(|t| t.as_ref().map_or(Ok(Type::UNKNOWN), into_pg_type))
                    .collect::<PgWireResult<Vec<_>>>()?;
                (parameters, Some(Arc::new(plan.schema().as_arrow().clone())))
            }
            _ => (Vec::new(), None),
        };
        Ok(Some(Prepared {
            command,
            parameters,
            columns,
        }))
    }

    fn get_parameter_types(&self, stmt: &Self::Statement) -> PgWireResult<Vec<Type>> {
        Ok(stmt.parameters.clone())
    }

    fn get_result_schema(
        &self,
        stmt: &Self::Statement,
        column_format: Option<&Format>,
    ) -> PgWireResult<Vec<FieldInfo>> {
        match &stmt.columns {
            Some(schema) => arrow_schema_to_pg_fields(
                schema,
                column_format.unwrap_or(&Format::UnifiedText),
                None,
            ),
            None => Ok(stmt.command.columns()),
        }
    }
}
