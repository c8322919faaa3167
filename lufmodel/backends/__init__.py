"""Backends of the operations interface: concrete values, strict checking, code generation.

The Z3 backend lives with the symbolic engine so that z3 is imported only there.
"""
