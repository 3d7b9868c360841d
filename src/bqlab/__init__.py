"""bqlab: notebook-driven analysis on BigQuery Standard SQL, with an embedded offline default."""

__version__ = "0.1.0"
