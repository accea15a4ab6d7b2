// Command signbench signs or verifies one model file as marina model sign and marina serve --verify-key do (hash
// the file, sign or verify the Sigstore bundle), for bench/sign/run.sh.
//
//	signbench sign KEY FILE BUNDLE
//	signbench verify PUB FILE BUNDLE
package main
