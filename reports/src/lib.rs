//! Renders an analysis into the markdown capacity report with charts.
//!
//! Not built yet: see the reports issue.
