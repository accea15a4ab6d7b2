package main

import (
	"flag"
	"fmt"
	"os"
)

func main() {
	out := flag.String("out", "", "directory to write the models and the evaluation set into (created if missing)")
	flag.Parse()
	if *out == "" || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: go run ./hack/genmodels -out DIR")
		os.Exit(2)
	}
	files, err := generate(*out)
	if err != nil {
		fmt.Fprintln(os.Stderr, "genmodels:", err)
		os.Exit(1)
	}
	for _, f := range files {
		fmt.Printf("%-28s %8d bytes  %s\n", f.Name, f.Size, f.Note)
	}
}
