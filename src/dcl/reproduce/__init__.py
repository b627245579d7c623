"""Reproduce the paper's tables: every table and figure of the paper as a resumable grid of
runs whose output is the table, ours beside the paper's numbers (``dcl reproduce``).

* :func:`reproduce` - train what is not done, write ``OUT/TABLE.md`` and ``OUT/TABLE.csv``
* :func:`estimate` - the grid with an estimated time per cell on this machine (``--dry-run``)
* :func:`list_tables` - what each table needs (``--list``)
* :func:`load_tables`, :func:`get_table` - the paper's numbers (``paper.toml``)
* :data:`METRICS` - how a cell is read from its run (register more by name)
"""
from ..lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    "Result": ".api", "estimate": ".api", "list_tables": ".api", "reproduce": ".api", "METRICS": ".metrics",
    "Metric": ".metrics", "get_table": ".paper", "load_tables": ".paper",
})

__all__ = ["METRICS", "Metric", "Result", "estimate", "get_table", "list_tables", "load_tables", "reproduce"]
