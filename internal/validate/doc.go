// Package validate checks a model repository offline and reports findings: marina's own files against their
// schemas, Kubernetes objects against their schemas, cross-references between files, the policies and gates of
// marina.yaml, and rendered output that is stale. Every finding names a rule of Rules, a file, a field path and a
// line where known, and says what to do. Reporters write findings as text, JSON, SARIF 2.1.0 or JUnit XML.
package validate
