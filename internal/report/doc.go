// Package report writes what marina's checking commands found — validate's findings, model check's steps, ci's
// run — in the formats CI systems read: text, JSON, SARIF 2.1.0 and JUnit XML. Like kubeconform's pkg/output, one
// interface (Report) stands between the commands and the writers: a command's result says what it is in text and
// JUnit (and SARIF when it is made of findings in files), and Write picks the format.
package report
