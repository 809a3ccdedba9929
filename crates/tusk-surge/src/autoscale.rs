//! Replays the chart's autoscalers over the metrics scraped during a run.
