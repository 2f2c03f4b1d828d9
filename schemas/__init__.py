"""Contracts of the warehouse tables, one pandera DataFrameModel per table, plus the taxonomy
and question mapping as data files."""
