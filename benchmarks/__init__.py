"""Reproducible performance measurements (printed ratios, never timed tests). Run: python -m benchmarks.run"""
