//! A physical optimizer rule that lets the time limit stop row-multiplying operators.
//!
//! A cancelled query stops at its next yield to the Tokio runtime. DataFusion's own
//! `EnsureCooperative` makes leaves spend scheduling budget, but a join (or unnest) can emit
//! endless batches from one input batch without touching a leaf, and an aggregate above it
//! then loops without ever yielding: `count(*)` over a 10^16-row cross join kept two cores
//! busy after its deadline. Wrapping such operators in [`CooperativeExec`] makes each batch
//! they emit spend budget, so the task yields and its abort takes effect.

use std::sync::Arc;

use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::error::Result;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::coop::CooperativeExec;

/// Wraps every join and unnest in a [`CooperativeExec`]; see the module docs.
#[derive(Debug, Default)]
pub struct YieldingJoins;

impl YieldingJoins {
    /// Whether `plan` may emit many more rows than it reads.
    fn multiplies_rows(plan: &dyn ExecutionPlan) -> bool {
        let name = plan.name();
        name.contains("Join") || name == "UnnestExec"
    }
}

impl PhysicalOptimizerRule for YieldingJoins {
    fn name(&self) -> &str {
        "YieldingJoins"
    }

    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| {
            if Self::multiplies_rows(node.as_ref()) {
                Ok(Transformed::yes(Arc::new(CooperativeExec::new(node))))
            } else {
                Ok(Transformed::no(node))
            }
        })
        .map(|t| t.data)
    }

    fn schema_check(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::prelude::SessionContext;

    #[tokio::test]
    async fn joins_are_wrapped_once() {
        let ctx = SessionContext::new();
        let df = ctx
            .sql("SELECT count(*) FROM generate_series(1, 10) a, generate_series(1, 10) b")
            .await
            .unwrap();
        let plan = df.create_physical_plan().await.unwrap();
        let plan = YieldingJoins
            .optimize(plan, &ConfigOptions::default())
            .unwrap();
        let text = datafusion::physical_plan::displayable(plan.as_ref())
            .indent(false)
            .to_string();
        let join = text.lines().position(|l| l.contains("CrossJoinExec"));
        let coop = join.map(|i| text.lines().nth(i - 1).unwrap_or(""));
        assert!(
            coop.is_some_and(|l| l.contains("CooperativeExec")),
            "no CooperativeExec above the join:\n{text}"
        );
    }
}
