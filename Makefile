# Convenience targets; the README's two commands are the scripts themselves.
.PHONY: demo test bench fixtures
demo:
	scripts/demo.sh
test:
	scripts/test.sh
bench:
	Benchmarks/run.sh
fixtures:
	cd Fixtures/generate && ./run.sh
