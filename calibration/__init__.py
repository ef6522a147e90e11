"""Fit per-class thresholds from validation predictions, with metrics and a report."""
