"""The capture tests: a package, so that their ``conftest`` does not take the root's module
name (``from conftest import ...`` elsewhere must find the root ``tests/conftest.py``)."""
