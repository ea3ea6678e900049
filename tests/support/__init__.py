"""Helpers shared by several test modules (tests never import each other's test modules)."""
