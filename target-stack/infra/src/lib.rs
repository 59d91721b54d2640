//! aforo on AWS. The CloudFormation templates live beside this crate (`templates/`), with
//! their policy rules (`policy/`) and parameter sets (`params/`); this library is the part
//! other crates call: reading a deployed stack's outputs into the names loadgen and analyze
//! need, so nobody copies an ARN by hand; and keeping a fleet's run directories in S3.

pub mod outputs;
pub mod runs_store;

pub use outputs::{OutputsError, StackApp, StackTargets, WorkerPath};
pub use runs_store::{RunsLocation, StoreError};
