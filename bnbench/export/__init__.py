"""Exports: readers of a results folder that write what it holds into someone else's tool (MLflow)."""
