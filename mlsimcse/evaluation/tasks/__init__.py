"""Benchmarks as tasks: each binds a loader to an evaluator and names the protocol it follows."""
