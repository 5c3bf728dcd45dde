"""One module per program of the corpus (see ``corpus/collect.py``)."""
