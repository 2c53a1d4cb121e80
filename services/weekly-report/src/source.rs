//! Where every figure comes from: the KPI catalogue and the report queries of `sql/reports/`,
//! run by kpi-query's engine at table versions fixed once per report.

use std::sync::Arc;

use chrono::{DateTime, FixedOffset, NaiveDate, Weekday};
use kpi_query::lake::TableVersion;
use kpi_query::{Grain, KpiParams, LakeOptions, QueryEngine};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::ReportError;
use crate::model::Place;

/// A report query of `sql/reports/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportQuery {
    /// Requests per district, week and complaint category.
    HotlineCategories,
    /// Requests per district and community.
    TopCommunities,
    /// Renovation projects past their planned end date.
    OverdueProjects,
}

impl ReportQuery {
    fn sql(self) -> &'static str {
        match self {
            Self::HotlineCategories => include_str!("../../../sql/reports/hotline_categories.sql"),
            Self::TopCommunities => include_str!("../../../sql/reports/top_communities.sql"),
            Self::OverdueProjects => include_str!("../../../sql/reports/overdue_projects.sql"),
        }
    }
}

/// One row of a KPI answer.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct KpiRow {
    /// District (or city) code.
    pub district: String,
    /// Chinese name.
    #[serde(default)]
    pub district_name_zh: Option<String>,
    /// English name.
    #[serde(default)]
    pub district_name_en: Option<String>,
    /// First day of the period.
    pub period: NaiveDate,
    /// Breakdown, if any.
    #[serde(default)]
    pub item: Option<String>,
    /// The KPI.
    #[serde(default)]
    pub value: Option<f64>,
    /// Numerator of a ratio.
    #[serde(default)]
    pub numerator: Option<f64>,
    /// Denominator of a ratio.
    #[serde(default)]
    pub denominator: Option<f64>,
}

/// The lake at fixed table versions, queried through the catalogue.
pub struct KpiSource {
    engine: Arc<QueryEngine>,
    options: LakeOptions,
    versions: Vec<TableVersion>,
    week_start: Weekday,
}

impl KpiSource {
    /// Reads the lake at `versions` when given (re-rendering a report as sent), else at the
    /// versions current at `as_of`, else the latest; the versions are fixed for every query.
    pub async fn open(
        engine: Arc<QueryEngine>,
        versions: Option<Vec<TableVersion>>,
        as_of: Option<DateTime<FixedOffset>>,
        week_start: Weekday,
    ) -> Result<Self, ReportError> {
        let versions = match versions {
            Some(v) => v,
            None => {
                let options = LakeOptions {
                    as_of,
                    ..LakeOptions::default()
                };
                engine.versions(&options).await?
            }
        };
        Ok(Self {
            engine,
            options: LakeOptions::pinned(&versions),
            versions,
            week_start,
        })
    }

    /// The table versions every query reads.
    pub fn versions(&self) -> &[TableVersion] {
        &self.versions
    }

    /// KPI `id` over `from..=to` by `grain`, for every district and rolled up to `city` (rows
    /// whose district is the city code): one run of the KPI's query.
    pub async fn kpi(
        &self,
        id: &str,
        from: NaiveDate,
        to: NaiveDate,
        grain: Grain,
        city: &str,
    ) -> Result<Vec<KpiRow>, ReportError> {
        let params = KpiParams::new(&from.to_string(), &to.to_string(), grain.as_str(), None)
            .map_err(kpi_query::QueryError::from)?
            .with_week_start(self.week_start);
        let batches = self
            .engine
            .kpi_with_city(id, &params, city, &self.options)
            .await?;
        rows(&batches)?
            .into_iter()
            .map(|row| {
                serde_json::from_value(Value::Object(row))
                    .map_err(|e| ReportError::Query(format!("KPI {id} row: {e}")))
            })
            .collect()
    }

    /// The city `code` and its districts (by code) from the division table.
    pub async fn places(&self, code: &str) -> Result<(Place, Vec<Place>), ReportError> {
        if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ReportError::Input(format!(
                "city {code:?} is not a six-digit code"
            )));
        }
        let sql = format!(
            "SELECT code, name_zh, name_en, city_name_zh, city_name_en FROM divisions \
             WHERE city_code = '{code}' ORDER BY code"
        );
        let batches = self
            .engine
            .sql(&sql, &self.options)
            .await?
            .collect()
            .await?;
        let rows = rows(&batches)?;
        let text = |r: &Map<String, Value>, k: &str| {
            r.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let city = rows
            .first()
            .map(|r| Place {
                code: code.to_owned(),
                name_zh: text(r, "city_name_zh"),
                name_en: text(r, "city_name_en"),
            })
            .ok_or_else(|| {
                ReportError::Input(format!(
                    "city {code} has no districts in the division table"
                ))
            })?;
        let districts = rows
            .iter()
            .map(|r| Place {
                code: text(r, "code"),
                name_zh: text(r, "name_zh"),
                name_en: text(r, "name_en"),
            })
            .collect();
        Ok((city, districts))
    }

    /// A report query over `from..=to`.
    pub async fn report(
        &self,
        query: ReportQuery,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<Map<String, Value>>, ReportError> {
        // Dates and a small integer are all that is put into the text.
        let sql = query
            .sql()
            .replace("{from}", &format!("DATE '{from}'"))
            .replace("{to}", &format!("DATE '{to}'"))
            .replace(
                "{week_start_days}",
                &self.week_start.num_days_from_monday().to_string(),
            );
        let batches = self
            .engine
            .sql(&sql, &self.options)
            .await?
            .collect()
            .await?;
        rows(&batches)
    }
}

/// Record batches as JSON objects (dates as `YYYY-MM-DD`, NULLs left out).
fn rows(
    batches: &[arrow::record_batch::RecordBatch],
) -> Result<Vec<Map<String, Value>>, ReportError> {
    let mut writer = arrow::json::ArrayWriter::new(Vec::new());
    let refs: Vec<&arrow::record_batch::RecordBatch> = batches.iter().collect();
    writer
        .write_batches(&refs)
        .map_err(|e| ReportError::Query(format!("result to JSON: {e}")))?;
    writer
        .finish()
        .map_err(|e| ReportError::Query(format!("result to JSON: {e}")))?;
    let bytes = writer.into_inner();
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    serde_json::from_slice(&bytes).map_err(|e| ReportError::Query(format!("result JSON: {e}")))
}
