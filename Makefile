# Convenience targets; the README's two commands are the scripts themselves.
.PHONY: demo test bench fixtures fuzz
demo:
	scripts/demo.sh
test:
	scripts/test.sh
# make bench [QUICK=1] [GROUPS=infer,train,checkpoint,files] [CASES="example-50 wide-256"] [FILES=0] [ROUNDS=N]
# [KEEP_CORETYPE=1]: see Benchmarks/README.md (GROUPS reaches run.sh through the environment).
bench:
	QUICK='$(QUICK)' CASES='$(CASES)' FILES='$(FILES)' ROUNDS='$(ROUNDS)' KEEP_CORETYPE='$(KEEP_CORETYPE)' Benchmarks/run.sh
fixtures:
	cd Fixtures/generate && ./run.sh
# Every reader under libFuzzer + AddressSanitizer, FUZZ_SECONDS (default 60) per target (scripts/fuzz.sh).
fuzz:
	scripts/fuzz.sh
