"""Dataset protocols: each reduces a dataset to per-user tasks (see :mod:`..engine`)."""
