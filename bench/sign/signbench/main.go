package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/marina-dev/marina/internal/signing"
)

func main() {
	if len(os.Args) != 5 || (os.Args[1] != "sign" && os.Args[1] != "verify") {
		fmt.Fprintln(os.Stderr, "usage: signbench sign KEY FILE BUNDLE | signbench verify PUB FILE BUNDLE")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Args[2], os.Args[3], os.Args[4]); err != nil {
		fmt.Fprintln(os.Stderr, "signbench:", err)
		os.Exit(1)
	}
}

func run(op, key, file, bundle string) error {
	res, err := signing.FileResource(filepath.Base(file), file)
	if err != nil {
		return err
	}
	if op == "sign" {
		k, err := signing.LoadPrivateKey(key, signing.EnvPassword)
		if err != nil {
			return err
		}
		b, err := signing.SignModel(context.Background(), k, signing.Manifest{Model: "bench", Resources: []signing.Resource{res}})
		if err != nil {
			return err
		}
		return os.WriteFile(bundle, b, 0o644)
	}
	pub, err := signing.LoadPublicKey(key)
	if err != nil {
		return err
	}
	data, err := signing.ReadBundle(bundle)
	if err != nil {
		return err
	}
	m, err := signing.VerifyModel(data, []signing.PublicKey{pub})
	if err != nil {
		return err
	}
	return m.Check(res)
}
