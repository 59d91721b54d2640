//! The scenario catalogue: escenario 1 (web layer) and escenario 2 (worker layer).
//!
//! Not built yet: see the loadgen issue. This crate exists so that the workspace has the
//! layout of the design brief from the start.
