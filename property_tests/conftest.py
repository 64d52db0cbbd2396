"""Hypothesis profiles for the property suite: ``ci`` (default) and ``thorough``.

Select one with ``pytest --hypothesis-profile thorough``.
"""

from hypothesis import settings

# ci: at least 200 examples per property, sized so that the whole property suite runs in a
# few minutes on two cores. deadline=None: an example's duration depends on Trio's start-up
# and the machine's load, not on the code under test (the kit sets it too).
settings.register_profile("ci", max_examples=200, deadline=None, print_blob=True)
settings.register_profile("thorough", max_examples=10_000, deadline=None, print_blob=True)
settings.load_profile("ci")
