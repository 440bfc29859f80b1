from tests.sandbox_fixtures import example_sandbox, sandbox

__all__ = ["example_sandbox", "sandbox"]
