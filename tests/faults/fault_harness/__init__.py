"""Shared by the fault scenarios: the system under test, a district driven over HTTP, the ledger."""
