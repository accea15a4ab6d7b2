// Command hashbench times model.DigestFile, the hashing behind `marina register`, on one file:
//
//	hashbench [-runs N] FILE
//
// It prints each run and a final line with the fastest one and the digest:
//
//	best mibps=1234.5 seconds=0.830 size=1073741824 digest=sha256:…
//
// bench/register/run.sh runs it with -runs 1, interleaved with sha256sum, and times it from outside.
package main
