"""Readers for evaluation data: strict local readers for the files under the data root, Hub forms beside them."""
