package crd

import (
	"embed"
	"io/fs"
)

//go:embed bases/*.yaml
var bases embed.FS

// FS holds the CustomResourceDefinitions as bases/<group>_<plural>.yaml, one kind per file.
func FS() fs.FS {
	return bases
}
