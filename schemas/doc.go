// Package schemas embeds the JSON Schemas of marina's own files and decodes
// those files strictly: size, depth and alias limits, duplicate keys, unknown
// fields and type errors are reported with the file, the field path and the line.
package schemas
