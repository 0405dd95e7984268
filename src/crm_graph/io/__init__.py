"""Data in and out: streaming readers and writers for CSV and JSON Lines, imports and exports.

Files are read and written row by row, so memory stays flat whatever their size; validation
and writing go through the batched domain functions (``domain/*_imports.py``), the same ones
the GraphQL bulk mutations use.
"""
