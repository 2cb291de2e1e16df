"""The HTML report with PNG figures (matplotlib is imported only by this package)."""
