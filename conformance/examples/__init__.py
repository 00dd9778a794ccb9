"""Example external implementations, for authors wiring their own code to the suite."""
