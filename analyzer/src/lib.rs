//! The analyzer: turns run directories and server telemetry into a capacity model.
//!
//! Today it holds the pure models ([`model`]): the Universal Scalability Law, M/M/c
//! (Erlang C), Little's law, knee detection against an SLO and queue-growth trends. They do
//! no I/O; the `analyze` binary will read run directories and feed them.

pub mod model;
