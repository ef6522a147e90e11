"""Package data: the shipped model ``default.pt`` (see README.md, the model card)."""
