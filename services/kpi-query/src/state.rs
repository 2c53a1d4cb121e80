//! The lake's state tables as DataFusion tables, read consistently with their event tables.
//!
//! A state table (`hotline_ticket_state`, `facility_state`, `renovation_project_state`) is kept
//! by `lake-maintain state`, which records in each of its commits the version of the event
//! table it has brought it up to. A query reads the state at some version and the event table
//! at exactly the version that state records ([`crate::QueryEngine::pin`]), so every answer is
//! the catalogue's definition over the events of one event-table version, however far the
//! state lags. A lake whose state has never been
//! kept (or is being rebuilt from nothing) is answered from the state's reference definition
//! over the events: right, only slower.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::Session;
use datafusion::datasource::{TableProvider, TableType, ViewTable};
use datafusion::error::Result;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;

use crate::lake::{LakeOptions, LakeTableProvider};

/// A state table: its Delta table where the state is kept, else its reference definition.
#[derive(Debug)]
pub struct StateTableProvider {
    kept: Arc<LakeTableProvider>,
    reference: Arc<ViewTable>,
}

impl StateTableProvider {
    /// `kept` (a [`LakeTableProvider`] with the state's app id), falling back to `reference`.
    pub fn new(kept: Arc<LakeTableProvider>, reference: ViewTable) -> Self {
        Self {
            kept,
            reference: Arc::new(reference),
        }
    }
}

#[async_trait]
impl TableProvider for StateTableProvider {
    fn schema(&self) -> SchemaRef {
        self.kept.schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        // The reference view applies every filter it is given.
        Ok(filters.iter().map(|f| self.kept.pushdown(f)).collect())
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let options = LakeOptions::of(state);
        match self.kept.resolve(&options, Some(state)).await? {
            Some(r) if r.applied.is_some() => {
                r.scan(state, projection, filters, limit, self.kept.partitions())
                    .await
            }
            _ => self.reference.scan(state, projection, filters, limit).await,
        }
    }
}
