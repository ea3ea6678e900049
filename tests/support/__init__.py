"""Helpers shared by several test files (not tests themselves)."""
