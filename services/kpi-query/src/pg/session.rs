//! What a PostgreSQL connection may say besides a read: client settings (`SET`, `SHOW`) and
//! transaction commands, answered here from the parsed statement.
//!
//! Nothing here is ever turned back into SQL text or handed to another SQL engine: a setting
//! is a name from [`SETTINGS`] and a literal value (string, number, name or `DEFAULT`), kept in
//! the connection's metadata. Anything else is refused.

use std::sync::Arc;

use datafusion::sql::sqlparser::ast::{
    Expr, Ident, ObjectName, Set, Statement, UnaryOperator, Value,
};
use datafusion_postgres::pgwire::api::ClientInfo;
use datafusion_postgres::pgwire::api::auth::DefaultServerParameterProvider;
use datafusion_postgres::pgwire::api::results::{
    DataRowEncoder, FieldFormat, FieldInfo, QueryResponse, Response, Tag,
};
use datafusion_postgres::pgwire::api::{METADATA_USER, Type};
use datafusion_postgres::pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use datafusion_postgres::pgwire::messages::response::TransactionStatus;
use futures::stream;

use crate::guard::{self, Refused};
use crate::lake::parse_as_of;

/// The setting that makes a connection read the lake as it was at a time.
pub const AS_OF: &str = "civicpulse.as_of";

/// Longest value a setting takes (a time zone, an application name, a search path).
const MAX_VALUE_LEN: usize = 256;

/// Settings a client may `SET`: they change nothing but what `SHOW` answers, except
/// [`AS_OF`]. Name (lower case), the name in `ParameterStatus` messages (for those PostgreSQL
/// reports), the default.
const SETTINGS: &[(&str, Option<&str>, Default)] = &[
    (
        "application_name",
        Some("application_name"),
        Default::Fixed(""),
    ),
    ("bytea_output", None, Default::Fixed("hex")),
    (
        "client_encoding",
        Some("client_encoding"),
        Default::Fixed("UTF8"),
    ),
    ("client_min_messages", None, Default::Fixed("notice")),
    ("datestyle", Some("DateStyle"), Default::DateStyle),
    ("extra_float_digits", None, Default::Fixed("1")),
    (
        "intervalstyle",
        Some("IntervalStyle"),
        Default::IntervalStyle,
    ),
    ("search_path", Some("search_path"), Default::SearchPath),
    ("statement_timeout", None, Default::Fixed("0")),
    ("timezone", Some("TimeZone"), Default::TimeZone),
    (AS_OF, None, Default::Fixed("latest")),
];

/// Settings `SHOW` answers but `SET` refuses.
const READ_ONLY_SETTINGS: &[(&str, Default)] = &[
    ("server_version", Default::ServerVersion),
    ("server_encoding", Default::Fixed("UTF8")),
    ("standard_conforming_strings", Default::Fixed("on")),
    ("integer_datetimes", Default::Fixed("on")),
    ("is_superuser", Default::Fixed("off")),
    ("transaction_isolation", Default::Fixed("read committed")),
    ("transaction_read_only", Default::Fixed("on")),
    ("default_transaction_read_only", Default::Fixed("on")),
    ("max_identifier_length", Default::Fixed("63")),
    ("session_authorization", Default::User),
];

/// Where a setting's default comes from: the server parameters sent at startup, so `SHOW`
/// and `ParameterStatus` agree.
#[derive(Debug, Clone, Copy)]
enum Default {
    Fixed(&'static str),
    DateStyle,
    IntervalStyle,
    SearchPath,
    TimeZone,
    ServerVersion,
    User,
}

impl Default {
    fn value(self, client: &(impl ClientInfo + ?Sized)) -> String {
        let server = server_parameters();
        match self {
            Self::Fixed(v) => v.to_owned(),
            Self::DateStyle => server.date_style,
            Self::IntervalStyle => server.interval_style,
            Self::SearchPath => server.search_path,
            Self::TimeZone => server.time_zone,
            Self::ServerVersion => server.server_version,
            Self::User => client
                .metadata()
                .get(METADATA_USER)
                .cloned()
                .unwrap_or_default(),
        }
    }
}

/// The parameters sent to a client at startup: a read-only, unprivileged session.
pub fn server_parameters() -> DefaultServerParameterProvider {
    let mut parameters = DefaultServerParameterProvider::default();
    parameters.is_superuser = false;
    parameters.default_transaction_read_only = true;
    parameters
}

/// Why a statement that is not a read is not answered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    /// Not a read, nor a setting or transaction command kpi-query answers.
    #[error(transparent)]
    Refused(#[from] Refused),
    /// A setting that is not a client setting (engine options, roles …).
    #[error(
        "kpi-query is read-only: SET {0} is not allowed (only client settings and civicpulse.as_of may be set)"
    )]
    NotASetting(String),
    /// A value that is not a literal.
    #[error("SET {0} takes a literal value: a string, a number, a name or DEFAULT")]
    NotALiteral(String),
    /// A literal the setting does not take.
    #[error("invalid value for {name}: {reason}")]
    BadValue {
        /// The setting.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// `SHOW` of a name kpi-query does not know.
    #[error("unrecognized configuration parameter \"{0}\"")]
    Unknown(String),
    /// A command other than `COMMIT`/`ROLLBACK` after an error in a transaction block.
    #[error("current transaction is aborted, commands ignored until end of transaction block")]
    Aborted,
}

impl SessionError {
    /// The SQLSTATE PostgreSQL gives the same refusal.
    pub fn sqlstate(&self) -> &'static str {
        match self {
            Self::Refused(Refused::Recursive) => "0A000",
            Self::Refused(Refused::TooDeep | Refused::TooComplex { .. }) => "54001",
            Self::Refused(_) | Self::NotASetting(_) => "42501",
            Self::NotALiteral(_) | Self::BadValue { .. } => "22023",
            Self::Unknown(_) => "42704",
            Self::Aborted => "25P02",
        }
    }
}

impl From<SessionError> for PgWireError {
    fn from(e: SessionError) -> Self {
        PgWireError::UserError(Box::new(ErrorInfo::new(
            "ERROR".into(),
            e.sqlstate().into(),
            crate::engine::capped(e.to_string()),
        )))
    }
}

/// What a statement from a client is, decided once from its syntax tree.
#[derive(Debug, Clone)]
pub enum Command {
    /// A read: through the engine.
    Read(Arc<Statement>),
    /// `SET name = value`; `None` is `DEFAULT`.
    Set {
        /// Lower-case name from [`SETTINGS`].
        name: &'static str,
        /// The literal value.
        value: Option<String>,
    },
    /// `SET TRANSACTION …`, `SET SESSION CHARACTERISTICS …`: accepted, nothing to change.
    SetTransaction,
    /// `SHOW name`.
    Show(String),
    /// `SHOW ALL`.
    ShowAll,
    /// `BEGIN`, `START TRANSACTION`.
    Begin,
    /// `COMMIT`, `END`.
    Commit,
    /// `ROLLBACK`, `ABORT`.
    Rollback,
}

impl Command {
    /// Classifies `statement`; anything that is neither a read nor a command answered here is
    /// refused.
    pub fn of(statement: Statement) -> Result<Self, SessionError> {
        match statement {
            Statement::Set(set) => set_command(set),
            Statement::ShowVariable { variable } => Ok(show_command(&variable)),
            Statement::StartTransaction {
                statements,
                exception,
                ..
            } if statements.is_empty() && exception.is_none() => Ok(Self::Begin),
            Statement::Commit { .. } => Ok(Self::Commit),
            Statement::Rollback {
                savepoint: None, ..
            } => Ok(Self::Rollback),
            other => {
                guard::check_ast(&other)?;
                Ok(Self::Read(Arc::new(other)))
            }
        }
    }

    /// The columns of the command's answer, when it is not a read.
    pub fn columns(&self) -> Vec<FieldInfo> {
        match self {
            Self::Show(name) => vec![text_field(name)],
            Self::ShowAll => vec![text_field("name"), text_field("setting")],
            _ => Vec::new(),
        }
    }

    /// Answers a command that is not a read; `SET` changes the connection's metadata and
    /// returns the `ParameterStatus` to send, if any.
    pub fn answer(
        &self,
        client: &mut (impl ClientInfo + ?Sized),
    ) -> PgWireResult<(Response, Option<(String, String)>)> {
        let aborted = client.transaction_status() == TransactionStatus::Error;
        if !matches!(self, Self::Commit | Self::Rollback) {
            check_not_aborted(client)?;
        }
        let response = match self {
            Self::Read(_) => unreachable!("reads run through the engine"),
            Self::Set { name, value } => {
                let status = set(client, name, value.as_deref())?;
                return Ok((Response::Execution(Tag::new("SET")), status));
            }
            Self::SetTransaction => Response::Execution(Tag::new("SET")),
            Self::Show(name) => {
                let value = show(client, name)?;
                rows(self.columns(), vec![vec![value]])?
            }
            Self::ShowAll => {
                let all = SETTINGS
                    .iter()
                    .map(|(n, _, _)| *n)
                    .chain(READ_ONLY_SETTINGS.iter().map(|(n, _)| *n))
                    .map(|n| Ok(vec![n.to_owned(), show(client, n)?]))
                    .collect::<PgWireResult<Vec<_>>>()?;
                rows(self.columns(), all)?
            }
            Self::Begin => {
                if client.transaction_status() == TransactionStatus::Idle {
                    Response::TransactionStart(Tag::new("BEGIN"))
                } else {
                    // PostgreSQL warns and carries on.
                    Response::Execution(Tag::new("BEGIN"))
                }
            }
            Self::Commit if aborted => Response::TransactionEnd(Tag::new("ROLLBACK")),
            Self::Commit => Response::TransactionEnd(Tag::new("COMMIT")),
            Self::Rollback => Response::TransactionEnd(Tag::new("ROLLBACK")),
        };
        Ok((response, None))
    }
}

/// Refuses anything but `COMMIT`/`ROLLBACK` after an error in a transaction block, as
/// PostgreSQL does.
pub fn check_not_aborted(client: &(impl ClientInfo + ?Sized)) -> Result<(), SessionError> {
    if client.transaction_status() == TransactionStatus::Error {
        Err(SessionError::Aborted)
    } else {
        Ok(())
    }
}

fn text_field(name: &str) -> FieldInfo {
    FieldInfo::new(name.into(), None, None, Type::VARCHAR, FieldFormat::Text)
}

fn rows(columns: Vec<FieldInfo>, values: Vec<Vec<String>>) -> PgWireResult<Response> {
    let fields = Arc::new(columns);
    let mut encoded = Vec::with_capacity(values.len());
    for row in values {
        let mut encoder = DataRowEncoder::new(fields.clone());
        for value in row {
            encoder.encode_field(&Some(value))?;
        }
        encoded.push(Ok(encoder.take_row()));
    }
    Ok(Response::Query(QueryResponse::new(
        fields,
        stream::iter(encoded),
    )))
}

/// A setting's name as written: `a.b` or `"A".b` is `a.b`.
fn setting_name(name: &ObjectName) -> Result<String, SessionError> {
    let parts = name
        .0
        .iter()
        .map(|part| part.as_ident().map(|i| i.value.to_ascii_lowercase()))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| SessionError::NotASetting(name.to_string()))?;
    Ok(parts.join("."))
}

fn known_setting(name: &str) -> Result<&'static str, SessionError> {
    SETTINGS
        .iter()
        .map(|(n, _, _)| *n)
        .find(|n| *n == name)
        .ok_or_else(|| SessionError::NotASetting(name.to_owned()))
}

fn set_command(set: Set) -> Result<Command, SessionError> {
    match set {
        Set::SingleAssignment {
            hivevar: false,
            variable,
            values,
            ..
        } => {
            let name = known_setting(&setting_name(&variable)?)?;
            let value = literal_list(name, &values)?;
            Ok(Command::Set { name, value })
        }
        Set::SetTimeZone { value, .. } => Ok(Command::Set {
            name: "timezone",
            value: literal_list("timezone", std::slice::from_ref(&value))?,
        }),
        Set::SetNames {
            charset_name,
            collation_name: None,
        } => Ok(Command::Set {
            name: "client_encoding",
            value: identifier("client_encoding", &charset_name)?,
        }),
        Set::SetNames {
            collation_name: Some(_),
            ..
        } => Err(SessionError::BadValue {
            name: "client_encoding".into(),
            reason: "SET NAMES takes no COLLATE".into(),
        }),
        Set::SetNamesDefault {} => Ok(Command::Set {
            name: "client_encoding",
            value: None,
        }),
        Set::SetTransaction {
            snapshot: None,
            modes: _,
            session: _,
        } => Ok(Command::SetTransaction),
        other => Err(SessionError::NotASetting(guard::statement_kind(
            &Statement::Set(other),
        ))),
    }
}

/// The value of `SET name = a, b, …` (`None` for `DEFAULT`), literals only.
fn literal_list(name: &str, values: &[Expr]) -> Result<Option<String>, SessionError> {
    let mut out = Vec::with_capacity(values.len());
    for value in values {
        match literal(name, value)? {
            None if values.len() == 1 => return Ok(None),
            None => return Err(SessionError::NotALiteral(name.to_owned())),
            Some(v) => out.push(v),
        }
    }
    if out.is_empty() {
        return Err(SessionError::NotALiteral(name.to_owned()));
    }
    let value = out.join(", ");
    if value.len() > MAX_VALUE_LEN {
        return Err(SessionError::BadValue {
            name: name.to_owned(),
            reason: format!("longer than {MAX_VALUE_LEN} bytes"),
        });
    }
    Ok(Some(value))
}

/// One literal: a string, a number, a name; `None` for `DEFAULT`/`LOCAL`.
fn literal(name: &str, expr: &Expr) -> Result<Option<String>, SessionError> {
    let not_literal = || SessionError::NotALiteral(name.to_owned());
    match expr {
        Expr::Identifier(ident) => identifier(name, ident),
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s)
            | Value::EscapedStringLiteral(s)
            | Value::NationalStringLiteral(s)
            | Value::UnicodeStringLiteral(s)
            | Value::DoubleQuotedString(s) => Ok(Some(s.clone())),
            Value::DollarQuotedString(s) => Ok(Some(s.value.clone())),
            Value::Number(n, _) => Ok(Some(n.to_string())),
            Value::Boolean(b) => Ok(Some(if *b { "on" } else { "off" }.to_owned())),
            _ => Err(not_literal()),
        },
        Expr::UnaryOp {
            op: op @ (UnaryOperator::Minus | UnaryOperator::Plus),
            expr,
        } => match expr.as_ref() {
            Expr::Value(v) if matches!(v.value, Value::Number(..)) => {
                let sign = if *op == UnaryOperator::Minus { "-" } else { "" };
                Ok(Some(format!("{sign}{}", v.value)))
            }
            _ => Err(not_literal()),
        },
        _ => Err(not_literal()),
    }
}

fn identifier(_name: &str, ident: &Ident) -> Result<Option<String>, SessionError> {
    let unquoted = ident.quote_style.is_none();
    if unquoted
        && (ident.value.eq_ignore_ascii_case("default")
            || ident.value.eq_ignore_ascii_case("local"))
    {
        Ok(None)
    } else {
        Ok(Some(ident.value.clone()))
    }
}

fn show_command(variable: &[Ident]) -> Command {
    let words: Vec<String> = variable
        .iter()
        .map(|v| v.value.to_ascii_lowercase())
        .collect();
    let name = match words.join(" ").as_str() {
        "all" => return Command::ShowAll,
        "time zone" => "timezone".to_owned(),
        "transaction isolation level" => "transaction_isolation".to_owned(),
        "session authorization" => "session_authorization".to_owned(),
        _ => words.join("."),
    };
    Command::Show(name)
}

/// Stores a setting; returns the `ParameterStatus` PostgreSQL sends for it.
fn set(
    client: &mut (impl ClientInfo + ?Sized),
    name: &'static str,
    value: Option<&str>,
) -> PgWireResult<Option<(String, String)>> {
    let bad = |reason: String| SessionError::BadValue {
        name: name.to_owned(),
        reason,
    };
    let value = match (name, value.map(str::trim)) {
        (_, None) => None,
        (AS_OF, Some("" | "latest" | "none")) => None,
        (AS_OF, Some(v)) => Some(parse_as_of(v).map_err(bad)?.to_rfc3339()),
        ("client_encoding", Some(v)) => {
            let v = v.to_ascii_uppercase().replace(['-', '_'], "");
            if v != "UTF8" && v != "UNICODE" {
                return Err(bad("kpi-query speaks UTF8 only".into()).into());
            }
            Some("UTF8".to_owned())
        }
        (_, Some(v)) => Some(v.to_owned()),
    };
    match value {
        Some(v) => client.metadata_mut().insert(name.to_owned(), v),
        None => client.metadata_mut().remove(name),
    };
    let reported = SETTINGS
        .iter()
        .find(|(n, _, _)| *n == name)
        .and_then(|(_, reported, _)| *reported);
    Ok(reported.map(|r| (r.to_owned(), show_value(client, name))))
}

fn show_value(client: &(impl ClientInfo + ?Sized), name: &str) -> String {
    show(client, name).unwrap_or_default()
}

/// The value of a setting for `SHOW`.
fn show(client: &(impl ClientInfo + ?Sized), name: &str) -> Result<String, SessionError> {
    if let Some((n, _, default)) = SETTINGS.iter().find(|(n, _, _)| *n == name) {
        return Ok(client
            .metadata()
            .get(*n)
            .cloned()
            .unwrap_or_else(|| default.value(client)));
    }
    READ_ONLY_SETTINGS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, default)| default.value(client))
        .ok_or_else(|| SessionError::Unknown(name.to_owned()))
}

/// The connection's `civicpulse.as_of`, if set.
pub fn as_of(client: &(impl ClientInfo + ?Sized)) -> Option<&String> {
    client.metadata().get(AS_OF)
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    fn command(sql: &str) -> Result<Command, SessionError> {
        let mut statements = Parser::parse_sql(&PostgreSqlDialect {}, sql).expect("parses");
        assert_eq!(statements.len(), 1, "{sql}");
        Command::of(statements.remove(0))
    }

    fn set_of(sql: &str) -> (&'static str, Option<String>) {
        match command(sql) {
            Ok(Command::Set { name, value }) => (name, value),
            other => panic!("{sql}: {other:?}"),
        }
    }

    #[test]
    fn client_settings_take_literals() {
        for (sql, name, value) in [
            (
                "SET application_name = 'psql'",
                "application_name",
                Some("psql"),
            ),
            (
                "SET SESSION application_name TO x",
                "application_name",
                Some("x"),
            ),
            (
                "SET LOCAL datestyle = ISO, MDY",
                "datestyle",
                Some("ISO, MDY"),
            ),
            (
                "SET extra_float_digits = 3",
                "extra_float_digits",
                Some("3"),
            ),
            (
                "SET extra_float_digits = -1",
                "extra_float_digits",
                Some("-1"),
            ),
            ("SET search_path TO DEFAULT", "search_path", None),
            (
                "SET TIME ZONE 'Asia/Shanghai'",
                "timezone",
                Some("Asia/Shanghai"),
            ),
            ("SET TIME ZONE LOCAL", "timezone", None),
            ("SET NAMES 'UTF8'", "client_encoding", Some("UTF8")),
            (
                "SET application_name = E'a\\'b'",
                "application_name",
                Some("a'b"),
            ),
            ("SET application_name = N'x'", "application_name", Some("x")),
            (
                "SET application_name = $$x'y$$",
                "application_name",
                Some("x'y"),
            ),
            (
                "SET civicpulse.as_of = '2024-06-10T08:00:00+08:00'",
                AS_OF,
                Some("2024-06-10T08:00:00+08:00"),
            ),
        ] {
            assert_eq!(set_of(sql), (name, value.map(str::to_owned)), "{sql}");
        }
    }

    #[test]
    fn anything_else_is_refused() {
        for (sql, code) in [
            (
                "SET NAMES utf8 COLLATE '''x''; COPY (SELECT 1 AS a) TO ''/tmp/pwn.csv'''",
                "22023",
            ),
            ("SET application_name = (SELECT 'x')", "22023"),
            ("SET application_name = 'a' || 'b'", "22023"),
            ("SET application_name = $1", "22023"),
            ("SET TIME ZONE INTERVAL '1' HOUR", "22023"),
            ("SET datafusion.execution.batch_size = 1", "42501"),
            ("SET \"DataFusion\".execution.batch_size = 1", "42501"),
            ("SET ROLE postgres", "42501"),
            ("SET SESSION AUTHORIZATION postgres", "42501"),
            ("COPY (SELECT 1) TO '/tmp/x.csv'", "42501"),
            ("ROLLBACK TO SAVEPOINT s", "42501"),
        ] {
            let error = command(sql).expect_err(sql);
            assert_eq!(error.sqlstate(), code, "{sql}: {error}");
        }
        let latin1 = command("SET client_encoding = 'LATIN1'").expect("a setting");
        let mut client = datafusion_postgres::testing::MockClient::new();
        match latin1.answer(&mut client) {
            Err(PgWireError::UserError(info)) => assert_eq!(info.code, "22023"),
            other => panic!("LATIN1: {other:?}"),
        }
    }

    #[test]
    fn show_names() {
        for (sql, name) in [
            ("SHOW TIME ZONE", "timezone"),
            ("SHOW search_path", "search_path"),
            ("SHOW civicpulse.as_of", AS_OF),
            ("SHOW TRANSACTION ISOLATION LEVEL", "transaction_isolation"),
        ] {
            match command(sql) {
                Ok(Command::Show(n)) => assert_eq!(n, name, "{sql}"),
                other => panic!("{sql}: {other:?}"),
            }
        }
        assert!(matches!(command("SHOW ALL"), Ok(Command::ShowAll)));
        assert!(matches!(
            command("BEGIN ISOLATION LEVEL SERIALIZABLE"),
            Ok(Command::Begin)
        ));
    }
}
