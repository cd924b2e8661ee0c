"""Operations tooling no request runs: the benchmark, the synthetic cohort, gunicorn for
the bench and the load run, the embedded PostgreSQL and Redis, the load run and the
backup drill. Only management commands (and the Makefile, the tests) import it: an
import-linter contract in pyproject.toml says so."""
