"""Plain functions that turn raw Tally submissions into data-model records: mapping of
questions to fields, the taxonomy, normalisation, validation rules and project identity."""
