"""Plain-Python core: every behaviour of the provider, usable without Airflow."""
