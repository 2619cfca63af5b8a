"""Ingestion: landed files -> validated raw tables, quarantine and file ledger."""
