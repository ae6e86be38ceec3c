"""Background jobs: e-mail and documents, run by arq or in-process."""
