"""finales: a broker and toolkit for self-driving laboratories."""

__version__ = "0.1.0"
