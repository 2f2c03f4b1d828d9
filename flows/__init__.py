"""Prefect flows: thin wrappers that run bibia's steps as tasks, for scheduled runs."""
