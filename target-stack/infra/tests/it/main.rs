//! The templates, checked the way CI and a deployment would: cfn-lint, the listeners with and
//! without a certificate, the inference app's variant, the policy rules,
//! AWS Academy's limits, the scaling policies against the local stack's defaults, and a
//! deployment into the moto server whose outputs the lookup
//! resolves.

mod app;
mod lint;
mod listeners;
mod moto;
mod policy;
mod scaling;
mod template;
