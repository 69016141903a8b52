"""The rkv descriptor language: grammar-driven parsing into a positioned AST."""
