"""Reporting: the markdown summary and the charts rendered from a verdict or a trend analysis."""
