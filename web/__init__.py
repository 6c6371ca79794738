"""The shop's web front: the storefront page and its chat widget (python -m web)."""
