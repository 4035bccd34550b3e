# The package was called pyroscope_io in early pyroscope-io releases; kept
# importable under that name too, as pyroscope-io does.
from pyroscope import *  # noqa: F401,F403
