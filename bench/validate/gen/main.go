// Command gen writes the synthetic model repository the validate/render benchmark
// runs on: marina init's scaffold, N models registered at two versions, each deployed
// to three environments with a mix of settings, and the rendered output — all made
// with marina's own packages.
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"time"

	"github.com/marina-dev/marina/internal/model"
	"github.com/marina-dev/marina/internal/project"
	"github.com/marina-dev/marina/internal/render"
	"github.com/marina-dev/marina/internal/repo"
	"github.com/marina-dev/marina/internal/scaffold"
)

func main() {
	dir := flag.String("out", "", "directory to create (must not exist)")
	n := flag.Int("models", 1000, "number of models")
	flag.Parse()
	if err := generate(*dir, *n); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

// quota matches the limits of the scaffold's ResourceQuota.
var quota = regexp.MustCompile(`(?m)^    ((?:requests|limits)\.[a-z./]+|pods): .*$`)

func write(dir, rel string, data []byte) error {
	p := filepath.Join(dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return os.WriteFile(p, data, 0o644)
}

func git(dir string, args ...string) error {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=bench", "GIT_AUTHOR_EMAIL=bench@example.com", "GIT_COMMITTER_NAME=bench", "GIT_COMMITTER_EMAIL=bench@example.com")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("git %v: %v\n%s", args, err, out)
	}
	return nil
}

func generate(dir string, n int) error {
	if dir == "" {
		return fmt.Errorf("-out is required")
	}
	if _, err := os.Stat(dir); err == nil {
		return fmt.Errorf("%s exists", dir)
	}
	files, err := scaffold.Files(scaffold.Options{Name: "bench", Envs: []string{"dev", "staging", "prod"}, Engine: "both", CI: "github"})
	if err != nil {
		return err
	}
	for _, f := range files {
		data := f.Data
		if f.Path == "infrastructure/base/environment/resourcequota.yaml" {
			// A thousand models need a bigger quota than a new team's default.
			data = quota.ReplaceAll(data, []byte("    $1: \"100000\""))
		}
		if err := write(dir, f.Path, data); err != nil {
			return err
		}
	}
	for i := range n {
		name := fmt.Sprintf("model-%04d", i)
		for _, v := range []string{"1.0.0", "1.1.0"} {
			sum := sha256.Sum256([]byte(name + v))
			meta := &model.Version{
				Name: name, Version: v, Tag: "v" + v + "-0123abc", Format: "onnx", State: model.StateActive,
				Artifact: model.Artifact{URI: "s3://models/" + name + "/" + v + ".onnx", Digest: "sha256:" + hex.EncodeToString(sum[:]), Size: int64(1+i%50) << 20},
				Metrics:  map[string]float64{"accuracy": 0.95, "latency_p95_ms": 12},
				Created:  time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC),
			}
			data, err := meta.Marshal()
			if err != nil {
				return err
			}
			if err := write(dir, model.File(name, v), data); err != nil {
				return err
			}
		}
		if err := write(dir, project.ApplicationPath(name), []byte(application(i, name))); err != nil {
			return err
		}
		if i%4 == 0 {
			if err := write(dir, "applications/"+name+"/config.yaml", []byte("LOG_LEVEL: info\nMAX_BATCH: 32\n")); err != nil {
				return err
			}
		}
	}
	if err := git(dir, "init", "-q", "-b", "main"); err != nil {
		return err
	}
	r, err := repo.Open(dir)
	if err != nil {
		return err
	}
	defer r.Close()
	outs, err := render.Repo(r, render.Options{})
	if err != nil {
		return err
	}
	for _, o := range outs {
		for _, f := range o.Files {
			if err := write(dir, f.Path, f.Data); err != nil {
				return err
			}
		}
	}
	if err := git(dir, "add", "-A"); err != nil {
		return err
	}
	return git(dir, "commit", "-qm", "synthetic benchmark repository")
}

// application varies the settings across models: GPUs, autoscalers, config, strategies, backends.
func application(i int, name string) string {
	s := fmt.Sprintf("apiVersion: marina.dev/v1alpha1\nkind: ModelApplication\nmetadata:\n  name: %s\nspec:\n  model: %s\n", name, name)
	if i%4 == 0 {
		s += "  config: config.yaml\n"
	}
	s += "  runtime: {image: \"registry.example.com/serve@sha256:" + fmt.Sprintf("%064x", i) + "\", port: 8080}\n"
	if i%3 == 0 {
		s += "  resources: {requests: {cpu: \"1\", memory: 2Gi, nvidia.com/gpu: \"1\"}, limits: {cpu: \"2\", memory: 4Gi, nvidia.com/gpu: \"1\"}}\n"
		s += "  nodeSelector: {nvidia.com/gpu.present: \"true\"}\n  tolerations: [{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}]\n"
	} else {
		s += "  resources: {requests: {cpu: 250m, memory: 512Mi}, limits: {cpu: \"1\", memory: 1Gi}}\n"
	}
	if i%5 == 0 && i%3 != 0 {
		s += "  scaling: {hpa: {min: 2, max: 8, cpuUtilization: 70}}\n"
	}
	if i%2 == 0 {
		s += "  backend: marina\n" // marina controller carries the canary out
	}
	s += "  environments:\n    dev: {version: 1.1.0, replicas: 1}\n    staging: {version: 1.1.0, replicas: 1}\n"
	if i%2 == 0 {
		s += "    prod: {version: 1.0.0, strategy: {canary: {steps: [{setWeight: 20}, {pause: {duration: 5m}}, {setWeight: 50}]}}}\n"
	} else {
		s += "    prod: {version: 1.0.0}\n"
	}
	return s
}
