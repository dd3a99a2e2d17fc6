"""Versioned, dated reference data shipped with the package (measures.yaml, policy.yaml, lists/)."""
