// Package marina is GitOps for AI models on Kubernetes. The code is under cmd/ and internal/ (README.md's Layout
// section says what is where); this package holds only the tests that keep the repository's own documents true.
package marina
