package image

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
)

// root is marina's source tree: where the Dockerfiles are, and where make image runs.
const root = "../.."

// instruction is one Dockerfile instruction: its keyword (upper case) and its arguments, flags (--from=…) apart.
type instruction struct {
	cmd   string
	flags map[string]string
	args  []string
	raw   string
}

// stage is one FROM and the instructions under it.
type stage struct {
	name, base string
	body       []instruction
}

// dockerfile is a Dockerfile read as BuildKit reads what these files use: comments and blank lines dropped,
// backslash continuations joined, global ARG defaults substituted in FROM. (BuildKit's own parser would bring its
// module's requirements, which upgrade much of marina's dependency graph, into go.mod for one test.)
type dockerfile struct{ stages []stage }

func parseDockerfile(t *testing.T, file string) dockerfile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, file))
	if err != nil {
		t.Fatal(err)
	}
	var d dockerfile
	globals := map[string]string{}
	var logical string
	for line := range strings.Lines(string(b)) {
		line = strings.TrimRight(line, "\r\n")
		if trimmed := strings.TrimSpace(line); logical == "" && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if cont, ok := strings.CutSuffix(line, "\\"); ok {
			logical += cont + " "
			continue
		}
		logical += line
		in := parseInstruction(logical)
		logical = ""
		switch {
		case in.cmd == "ARG" && len(d.stages) == 0:
			k, v, _ := strings.Cut(in.args[0], "=")
			globals[k] = v
		case in.cmd == "FROM":
			s := stage{base: os.Expand(in.args[0], func(k string) string {
				v, ok := globals[k]
				if !ok {
					t.Fatalf("%s: %s uses ARG %s, which has no default before the first FROM", file, in.raw, k)
				}
				return v
			})}
			if len(in.args) == 3 && strings.EqualFold(in.args[1], "AS") {
				s.name = in.args[2]
			}
			d.stages = append(d.stages, s)
		case len(d.stages) == 0:
			t.Fatalf("%s: %s before the first FROM", file, in.raw)
		default:
			d.stages[len(d.stages)-1].body = append(d.stages[len(d.stages)-1].body, in)
		}
	}
	if logical != "" || len(d.stages) == 0 {
		t.Fatalf("%s: ends in a continuation, or has no FROM", file)
	}
	return d
}

func parseInstruction(line string) instruction {
	fields := strings.Fields(line)
	in := instruction{cmd: strings.ToUpper(fields[0]), flags: map[string]string{}, raw: line}
	rest := fields[1:]
	for len(rest) > 0 && strings.HasPrefix(rest[0], "--") {
		k, v, _ := strings.Cut(strings.TrimPrefix(rest[0], "--"), "=")
		in.flags[k] = v
		rest = rest[1:]
	}
	in.args = rest
	return in
}

func (d dockerfile) stage(name string) (stage, bool) {
	i := slices.IndexFunc(d.stages, func(s stage) bool { return s.name == name })
	if i < 0 {
		return stage{}, false
	}
	return d.stages[i], true
}

// versionTag is a tag naming an exact release: 1.26.8-bookworm, 22.12.0-bookworm-slim, 12.8.1-cudnn-runtime-ubuntu24.04.
var versionTag = regexp.MustCompile(`^v?[0-9]+\.[0-9]+\.[0-9]+([-.][0-9A-Za-z.-]+)?$`)

// pinned says why a base image reference is not pinned, or "" when it is: a digest, or an exact version tag.
// Distroless publishes no version tags (only :latest, :nonroot, :debug and digests), so its :nonroot is the one
// moving tag allowed; the Dockerfile says how to pin it by digest.
func pinned(ref string) string {
	r, err := name.ParseReference(ref, name.WeakValidation)
	if err != nil {
		return err.Error() + ""
	}
	switch r := r.(type) {
	case name.Digest:
		return ""
	case name.Tag:
		if strings.HasPrefix(r.RepositoryStr(), "distroless/") && r.RegistryStr() == "gcr.io" && r.TagStr() == "nonroot" {
			return ""
		}
		if !versionTag.MatchString(r.TagStr()) {
			return "tag " + r.TagStr() + " is not an exact version: pin an exact version tag or a digest"
		}
	}
	return ""
}

func TestTheDockerfilesPinTheirBasesRunAsNonrootAndCopyWhatExists(t *testing.T) {
	t.Parallel()
	gomod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	goVersion := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(gomod)
	if goVersion == nil {
		t.Fatal("go.mod has no go directive")
	}
	onnxScript, err := os.ReadFile(filepath.Join(root, "hack/onnxruntime.sh"))
	if err != nil {
		t.Fatal(err)
	}
	ortVersion := regexp.MustCompile(`(?m)^version=(\S+)$`).FindSubmatch(onnxScript)
	if ortVersion == nil {
		t.Fatal("hack/onnxruntime.sh has no version= line")
	}
	for _, tc := range []struct {
		file string
		// images are the stages users build (--target), the last one the default; last is the default's base.
		images   []string
		last     *regexp.Regexp
		mentions []string
	}{
		{file: "Dockerfile", images: []string{"marina", "marina-serve"},
			last:     regexp.MustCompile(`^gcr\.io/distroless/cc-debian12[:@]`),
			mentions: []string{"/cache/onnxruntime/" + string(ortVersion[1]) + "/libonnxruntime.so.1"}},
		{file: "Dockerfile.cuda", images: []string{"marina-serve-cuda"},
			last:     regexp.MustCompile(`^nvidia/cuda:[0-9.]+-(cudnn-)?runtime-`),
			mentions: []string{"onnxruntime-node@" + string(ortVersion[1]), "libonnxruntime_providers_cuda.so"}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			t.Parallel()
			d := parseDockerfile(t, tc.file)
			if last := d.stages[len(d.stages)-1]; last.name != tc.images[len(tc.images)-1] || !tc.last.MatchString(last.base) {
				t.Errorf("the last stage (what docker build builds) is %s FROM %s, want %s FROM %s", last.name, last.base, tc.images[len(tc.images)-1], tc.last)
			}
			for _, s := range d.stages {
				if _, isStage := d.stage(s.base); isStage {
					continue
				}
				if why := pinned(s.base); why != "" {
					t.Errorf("stage %s: FROM %s: %s", s.name, s.base, why)
				}
				if strings.HasPrefix(s.base, "golang:") && !strings.HasPrefix(s.base, "golang:"+string(goVersion[1])+"-") {
					t.Errorf("stage %s: FROM %s, but go.mod says go %s", s.name, s.base, goVersion[1])
				}
				for _, in := range s.body {
					if in.cmd != "COPY" {
						continue
					}
					if from, ok := in.flags["from"]; ok {
						if _, ok := d.stage(from); !ok {
							t.Errorf("stage %s: COPY --from=%s names no stage of %s", s.name, from, tc.file)
						}
						continue
					}
					for _, src := range in.args[:len(in.args)-1] {
						if _, err := os.Stat(filepath.Join(root, src)); err != nil {
							t.Errorf("stage %s: COPY %s: not in the repository (%v)", s.name, src, err)
						}
					}
				}
			}
			for _, img := range tc.images {
				s, ok := d.stage(img)
				if !ok {
					t.Errorf("no stage %s", img)
					continue
				}
				var user string
				var entrypoint []string
				for _, in := range s.body {
					switch in.cmd {
					case "USER":
						user = strings.Join(in.args, " ")
					case "ENTRYPOINT":
						if err := json.Unmarshal([]byte(strings.Join(in.args, " ")), &entrypoint); err != nil {
							t.Errorf("stage %s: %s: not the exec (JSON) form: %v", img, in.raw, err)
						}
					}
				}
				if user != "65532:65532" {
					t.Errorf("stage %s runs as %q, want USER 65532:65532 (nonroot, as make image's images)", img, user)
				}
				if len(entrypoint) != 1 || !strings.HasPrefix(entrypoint[0], "/usr/bin/marina") {
					t.Errorf("stage %s: ENTRYPOINT %q, want the binary alone (exec form, no shell)", img, entrypoint)
				}
			}
			b, err := os.ReadFile(filepath.Join(root, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range tc.mentions {
				if !strings.Contains(string(b), m) {
					t.Errorf("%s does not mention %s (hack/onnxruntime.sh installs ONNX Runtime %s)", tc.file, m, ortVersion[1])
				}
			}
		})
	}
}

func TestPinnedRefusesMovingTags(t *testing.T) {
	t.Parallel()
	for ref, ok := range map[string]bool{
		"golang:1.26.8-bookworm":                                          true,
		"nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04":                    true,
		"gcr.io/distroless/cc-debian12:nonroot":                           true,
		"gcr.io/distroless/cc-debian12@sha256:" + strings.Repeat("a", 64): true,
		"golang:latest":                    false,
		"golang":                           false,
		"golang:1.26-bookworm":             false,
		"node:lts-bookworm-slim":           false,
		"example.com/distroless/x:nonroot": false,
	} {
		if got := pinned(ref) == ""; got != ok {
			t.Errorf("pinned(%s) = %q, want pinned %v", ref, pinned(ref), ok)
		}
	}
}
