"""The DuckDB warehouse: migrations, the raw landing, the derived tables and the exports."""
