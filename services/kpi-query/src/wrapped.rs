//! A scalar function wrapped around one of DataFusion's: the same name, signature, types and
//! properties, with its own body.

use std::fmt::Debug;
use std::hash::Hash;

use datafusion::arrow::datatypes::{DataType, FieldRef};
use datafusion::common::Result;
use datafusion::logical_expr::sort_properties::{ExprProperties, SortProperties};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl,
    Signature,
};

/// The body of a [`Wrapped`] function.
pub trait Body: Debug + PartialEq + Eq + Hash + Send + Sync + 'static {
    /// Evaluates the function over `args`; `inner` is the wrapped function.
    fn invoke(&self, inner: &ScalarUDF, args: ScalarFunctionArgs) -> Result<ColumnarValue>;
}

/// `inner` with `body` as its evaluation; every other trait method is the inner function's,
/// except `simplify` (some rewrite to another function, which would drop the body).
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Wrapped<B> {
    /// The function wrapped.
    pub inner: ScalarUDF,
    /// What evaluates it.
    pub body: B,
}

impl<B: Body> Wrapped<B> {
    /// `inner` evaluated by `body`, as a function to register.
    pub fn udf(inner: ScalarUDF, body: B) -> ScalarUDF {
        ScalarUDF::new_from_impl(Self { inner, body })
    }
}

impl<B: Body> ScalarUDFImpl for Wrapped<B> {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }

    fn display_name(&self, args: &[datafusion::prelude::Expr]) -> Result<String> {
        #[expect(deprecated)]
        self.inner.inner().display_name(args)
    }

    fn schema_name(&self, args: &[datafusion::prelude::Expr]) -> Result<String> {
        self.inner.inner().schema_name(args)
    }

    fn signature(&self) -> &Signature {
        self.inner.signature()
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.inner.inner().return_type(arg_types)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        self.inner.return_field_from_args(args)
    }

    fn is_strict(&self) -> bool {
        self.inner.inner().is_strict()
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        self.inner.coerce_types(arg_types)
    }

    fn output_ordering(&self, inputs: &[ExprProperties]) -> Result<SortProperties> {
        self.inner.output_ordering(inputs)
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.inner.documentation()
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        self.body.invoke(&self.inner, args)
    }
}
