//! The report of a run: summary.json, report.html and PNG charts.

use std::path::Path;

use crate::run::RunData;

/// Writes `summary.json`, `report.html` and the PNG charts into `out_dir` (created if missing)
/// and prints the summary table to the terminal.
pub fn write(_run: &RunData, _out_dir: &Path) -> anyhow::Result<()> {
    anyhow::bail!("not built yet")
}
