# Convenience targets; each goes through the same bootstrap as the README's commands.
.PHONY: setup demo test stress bench lint
setup: ; bash scripts/bootstrap.sh setup
demo: ; bash scripts/bootstrap.sh demo
test: ; bash scripts/bootstrap.sh test
stress: ; bash scripts/bootstrap.sh stress
bench: ; bash scripts/bootstrap.sh bench
lint: ; .venv/bin/ruff check station server protocol sohoa tests bench
