"""Airflow provider and plain-Python core for Sync Computing's Spark prediction API."""

__version__ = "0.1.0"
