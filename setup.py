"""Build of the optional compiled kernel (everything else is in pyproject.toml).

``kamsim/engine/_ckernel.c`` is a plain C shared library loaded with ctypes (no Python
headers, no numpy headers). The build is optional: without a C compiler kamsim installs
and runs on its pure-numpy path (the same numbers, slower).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "kamsim.engine._ckernel",
            sources=["kamsim/engine/_ckernel.c"],
            # no fused multiply-adds: the same IEEE operations as the numpy path
            extra_compile_args=["-O3", "-ffp-contract=off", "-fno-fast-math", "-std=c99"],
            optional=True,
        )
    ]
)
