"""bibia: the data pipeline of the Bibliothèque d'IA territoriales."""

__version__ = "0.11.1"
