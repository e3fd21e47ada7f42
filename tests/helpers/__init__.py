"""Helpers shared by the test modules (never imported from one test_*.py into another)."""
