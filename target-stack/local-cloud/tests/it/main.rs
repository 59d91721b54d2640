//! local-cloud's integration tests: one binary, one module per area. The stack with real
//! instances of the target-stack binary is tested in target-stack's own tests (`stack`),
//! where that binary is built.

mod lb;
mod local_stack_doc;
