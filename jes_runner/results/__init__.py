"""The results document: building it, writing it (atomic file, checkpoint), its schema, and reading any version."""
