//! The report of a run: summary.json, report.html and PNG charts.
