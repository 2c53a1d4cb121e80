//! The HTTP API.
//!
//! - `GET /health`: liveness and the table versions a query would read now (no token needed);
//! - `GET /kpis`: the catalogue; `GET /kpis/{id}?district=&from=&to=&grain=&week_start=`: one KPI;
//!   `GET /kpis/{id}/sql?…`: the SQL that answers it;
//! - `POST /sql` (the SQL as body) or `GET /sql?q=…`: any read-only query;
//! - `GET /tables`: the table versions read.
//!
//! Every query endpoint takes `as_of=` (answer from the table versions current then) and
//! `format=json|csv|arrow|parquet` (or an `Accept` header), so each answer has a stable URL
//! that Excel's "From Web" or a notebook can use.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use futures::StreamExt;
use serde::Deserialize;
use serde_json::json;
use subtle::ConstantTimeEq;

use crate::catalog::{KpiParams, parse_weekday};
use crate::engine::{QueryEngine, QueryError, QueryStream};
use crate::format::{Format, ResultEncoder};
use crate::lake::{LakeOptions, parse_as_of};

/// What the handlers share.
#[derive(Clone)]
pub struct ApiState {
    engine: Arc<QueryEngine>,
    token: Option<Arc<str>>,
}

/// The router over `engine`; with a `token`, every endpoint but `/health` requires
/// `Authorization: Bearer <token>`.
pub fn router(engine: Arc<QueryEngine>, token: Option<String>) -> Router {
    let state = ApiState {
        engine,
        token: token.map(Arc::from),
    };
    let api = Router::new()
        .route("/kpis", get(list_kpis))
        .route("/kpis/{id}", get(kpi))
        .route("/kpis/{id}/sql", get(kpi_sql))
        .route("/sql", get(sql_get).post(sql_post))
        .route("/tables", get(tables))
        .route_layer(middleware::from_fn_with_state(state.clone(), authorize));
    Router::new()
        .route("/health", get(health))
        .merge(api)
        .with_state(state)
}

/// Serves `router` on `addr` until the process ends.
pub async fn serve(addr: SocketAddr, router: Router) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!(%addr, "HTTP API listening");
    axum::serve(listener, router).await
}

async fn authorize(State(state): State<ApiState>, request: Request, next: Next) -> Response {
    if let Some(token) = &state.token {
        let sent = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        // Constant time: how long the check takes says nothing about how much of it matched.
        let matches = sent.is_some_and(|sent| bool::from(sent.as_bytes().ct_eq(token.as_bytes())));
        if !matches {
            return (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                Json(json!({"error": "missing or wrong bearer token"})),
            )
                .into_response();
        }
    }
    next.run(request).await
}

/// Query-string options every query endpoint takes.
#[derive(Debug, Default, Deserialize)]
struct Common {
    as_of: Option<String>,
    format: Option<String>,
}

impl Common {
    fn options(&self) -> Result<LakeOptions, ApiError> {
        let as_of = match self.as_of.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(v) => Some(parse_as_of(v).map_err(ApiError::bad_request)?),
        };
        Ok(LakeOptions {
            as_of,
            ..LakeOptions::default()
        })
    }

    fn format(&self, headers: &HeaderMap) -> Result<Format, ApiError> {
        match &self.format {
            Some(name) => Format::from_name(name).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "format {name:?} is not one of json, csv, arrow, parquet"
                ))
            }),
            None => Ok(headers
                .get(header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .map(Format::from_accept)
                .unwrap_or(Format::Json)),
        }
    }
}

/// An error answer: status and a JSON message.
struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    fn bad_request(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }
}

impl From<QueryError> for ApiError {
    fn from(e: QueryError) -> Self {
        let status = match &e {
            QueryError::Refused(r) if r.is_shape() => StatusCode::BAD_REQUEST,
            QueryError::Refused(_) => StatusCode::FORBIDDEN,
            QueryError::Catalog(crate::catalog::CatalogError::UnknownKpi(_)) => {
                StatusCode::NOT_FOUND
            }
            e if e.is_user_error() => StatusCode::BAD_REQUEST,
            QueryError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
            QueryError::MemoryLimit { .. } | QueryError::TooManyRows(_) => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            QueryError::Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Self {
            status,
            message: e.message(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(json!({"error": self.message}))).into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

async fn health(State(state): State<ApiState>) -> Response {
    match state.engine.versions(&LakeOptions::default()).await {
        Ok(versions) => Json(json!({"status": "ok", "tables": versions})).into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "lake unreadable", "error": e.to_string()})),
        )
            .into_response(),
    }
}

async fn tables(
    State(state): State<ApiState>,
    Query(common): Query<Common>,
) -> Result<Response, ApiError> {
    let options = common.options()?;
    let versions = state.engine.versions(&options).await?;
    Ok(
        Json(json!({"as_of": options.as_of.map(|t| t.to_rfc3339()), "tables": versions}))
            .into_response(),
    )
}

async fn list_kpis(State(state): State<ApiState>) -> Response {
    Json(state.engine.catalog().kpis()).into_response()
}

/// Parameters of a KPI answer.
#[derive(Debug, Deserialize)]
struct KpiQuery {
    district: Option<String>,
    from: Option<String>,
    to: Option<String>,
    grain: Option<String>,
    week_start: Option<String>,
    #[serde(flatten)]
    common: Common,
}

impl KpiQuery {
    fn params(&self) -> Result<KpiParams, ApiError> {
        let (from, to) = match (&self.from, &self.to) {
            (Some(f), Some(t)) => (f.clone(), t.clone()),
            _ => {
                return Err(ApiError::bad_request(
                    "from and to (YYYY-MM-DD) are required",
                ));
            }
        };
        let params = KpiParams::new(
            &from,
            &to,
            self.grain.as_deref().unwrap_or("week"),
            self.district.as_deref(),
        )
        .map_err(|e| ApiError::from(QueryError::from(e)))?;
        match self.week_start.as_deref().map(str::trim) {
            None | Some("") => Ok(params),
            Some(day) => Ok(params.with_week_start(
                parse_weekday(day).map_err(|e| ApiError::from(QueryError::from(e)))?,
            )),
        }
    }
}

async fn kpi(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    Query(query): Query<KpiQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let params = query.params()?;
    let format = query.common.format(&headers)?;
    let stream = state
        .engine
        .kpi(&id, &params, &query.common.options()?)
        .await?;
    respond(stream, format).await
}

async fn kpi_sql(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    Query(query): Query<KpiQuery>,
) -> Result<Response, ApiError> {
    let params = query.params()?;
    let kpi = state.engine.catalog().kpi(&id).map_err(QueryError::from)?;
    Ok((
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        kpi.answer_sql(&params),
    )
        .into_response())
}

/// `GET /sql?q=…`.
#[derive(Debug, Deserialize)]
struct SqlQuery {
    q: Option<String>,
    #[serde(flatten)]
    common: Common,
}

async fn sql_get(
    State(state): State<ApiState>,
    Query(query): Query<SqlQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let sql = query
        .q
        .as_deref()
        .ok_or_else(|| ApiError::bad_request("q= (the SQL) is required"))?;
    run_sql(&state, sql, &query.common, &headers).await
}

async fn sql_post(
    State(state): State<ApiState>,
    Query(common): Query<Common>,
    headers: HeaderMap,
    body: String,
) -> Result<Response, ApiError> {
    run_sql(&state, &body, &common, &headers).await
}

async fn run_sql(
    state: &ApiState,
    sql: &str,
    common: &Common,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let format = common.format(headers)?;
    let options = common.options()?;
    let stream = state.engine.sql(sql, &options).await.inspect_err(|e| {
        tracing::info!(error = %e, "query refused or failed");
    })?;
    respond(stream, format).await
}

/// Streams `stream` encoded as `format`. The first batch is awaited before the status is sent,
/// so a query that fails before its first row gets an error status, not a broken body; a
/// failure after that (time limit, row cap) cuts the body off, which clients report.
async fn respond(mut stream: QueryStream, format: Format) -> Result<Response, ApiError> {
    let first = match stream.next().await {
        Some(Err(e)) => return Err(e.into()),
        other => other,
    };
    let schema = stream.schema();
    let encoder = ResultEncoder::new(format, &schema)
        .map_err(|e| ApiError::from(QueryError::Execution(e.to_string())))?;
    let batches = futures::stream::iter(first).chain(stream);
    let body = futures::stream::unfold(
        (Box::pin(batches), Some(encoder)),
        |(mut batches, encoder)| async move {
            let mut encoder = encoder?;
            let next = batches.next().await;
            let (result, encoder) = tokio::task::spawn_blocking(move || match next {
                Some(Ok(batch)) => {
                    let bytes = encoder.write(&batch);
                    (bytes, Some(encoder))
                }
                Some(Err(e)) => (
                    Err(datafusion::arrow::error::ArrowError::ExternalError(
                        Box::new(e),
                    )),
                    None,
                ),
                None => (encoder.finish(), None),
            })
            .await
            .expect("encoder task");
            let result = result.map_err(|e| {
                tracing::warn!(error = %e, "result stream cut off");
                std::io::Error::other(e.to_string())
            });
            let encoder = if result.is_ok() { encoder } else { None };
            Some((result, (batches, encoder)))
        },
    );
    Ok((
        [(header::CONTENT_TYPE, format.content_type())],
        Body::from_stream(body),
    )
        .into_response())
}
