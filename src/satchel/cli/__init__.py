"""The ``satchel`` command line: a thin layer over the library (needs the ``cli`` extra)."""
