//! A PostgreSQL server for tests (to be written).
