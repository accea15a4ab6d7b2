// Package ui is marina ui: a read-only web dashboard of one model repository, served by the marina binary. The
// matrix page shows every model in every environment (version, registry state, last change from Git, blocked
// versions, and with a cluster what runs there); a model's page shows its registered versions and each
// environment's history; with a cluster, a ModelDeployment's page shows its rollout (versions, step, traffic split,
// analysis runs, conditions, Events; reloading itself) and, with Prometheus, charts of its shadow version as the
// built-in analyses measure it. Pages are html/template with one embedded style sheet and no script, under a strict
// Content-Security-Policy; the repository is read afresh on each request.
package ui
