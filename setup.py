"""Build hook for the optional C parser; everything else is in pyproject.toml.

``optional=True``: where no C compiler is available the install still succeeds and
imports fall back to the pure-Python parser (slower, same results).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension("vecstore._fastparse", ["vecstore/_fastparse.c"], optional=True,
                  extra_compile_args=["-O3"]),
    ],
)
