"""Storage: tables, engine, migrations and queries."""
