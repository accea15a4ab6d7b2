package modelpod_test

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/marina-dev/marina/internal/modelpod"
)

func TestAGPUModelNeverSurges(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		gpu                bool
		surge, unavailable intstr.IntOrString
	}{
		{false, intstr.FromString("25%"), intstr.FromInt32(0)},
		{true, intstr.FromInt32(0), intstr.FromInt32(1)},
	} {
		ru := modelpod.RollingUpdate(tc.gpu).RollingUpdate
		if *ru.MaxSurge != tc.surge || *ru.MaxUnavailable != tc.unavailable {
			t.Errorf("gpu=%t: maxSurge %s, maxUnavailable %s; want %s, %s", tc.gpu, ru.MaxSurge.String(), ru.MaxUnavailable.String(), tc.surge.String(), tc.unavailable.String())
		}
	}
}

func TestTheProgressDeadlineAndStartupProbeGrowWithTheModel(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name               string
		size               int64
		deadline, failures int32
	}{
		{"a small model gets ten minutes and a minute to start", 1 << 20, 600, 12},
		{"a 50 GiB model gets twice its load time", 50 << 30, 2 * (60 + 1024), 217}, // 1084 s in 5 s periods, rounded up
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := modelpod.ProgressDeadlineSeconds(tc.size); got != tc.deadline {
				t.Errorf("ProgressDeadlineSeconds = %d, want %d", got, tc.deadline)
			}
			spec := modelpod.Spec(modelpod.Pod{Name: "m", Image: "i", Port: 8080, Size: tc.size})
			if got := spec.Containers[0].StartupProbe.FailureThreshold; got != tc.failures {
				t.Errorf("startup probe failure threshold = %d, want %d", got, tc.failures)
			}
		})
	}
}

func TestTheServerRunsNonRootOnAReadOnlyRootFileSystem(t *testing.T) {
	t.Parallel()
	spec := modelpod.Spec(modelpod.Pod{Name: "m", Image: "i", Port: 8080, ConfigMap: "m-config", Secrets: []string{"token"}})
	c := spec.Containers[0]
	if !*spec.SecurityContext.RunAsNonRoot || !*c.SecurityContext.ReadOnlyRootFilesystem || *c.SecurityContext.AllowPrivilegeEscalation {
		t.Fatalf("security contexts: pod %+v, container %+v", spec.SecurityContext, c.SecurityContext)
	}
	if len(c.EnvFrom) != 2 || c.EnvFrom[0].ConfigMapRef.Name != "m-config" || c.EnvFrom[1].SecretRef.Name != "token" {
		t.Fatalf("envFrom %+v, want the ConfigMap then the Secret", c.EnvFrom)
	}
	if c.Ports[0].Name != modelpod.PortName || c.Ports[0].Protocol != corev1.ProtocolTCP {
		t.Fatalf("ports %+v", c.Ports)
	}
}

// command is the model server's arguments as the kubelet runs them, $(VAR) expanded from its env.
func command(c corev1.Container) []string {
	var pairs []string
	for _, e := range c.Env {
		pairs = append(pairs, "$("+e.Name+")", e.Value)
	}
	r := strings.NewReplacer(pairs...)
	out := make([]string, len(c.Args))
	for i, a := range c.Args {
		out[i] = r.Replace(a)
	}
	return out
}

const (
	artifactDigest = "sha256:05f6759bd4f24b056f0d290267459d5b63dcc1f451fd702ee5796f4179c78cf5"
	ociURI         = "oci://127.0.0.1:5000/models/iris@sha256:1e3fa9ff4412f893618f6767cdecb4b0ad04754682bd48f47dbf51e78e3b4318"
)

func TestAnOCIArtifactIsPulledIntoModelsByAnInitContainerThatRunsLikeTheServer(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		artifact   modelpod.Artifact
		pullImage  string
		dockerConf bool
		extraArgs  []string
	}{
		{name: "with marina's image and the node's credentials", pullImage: modelpod.PullImage},
		{name: "with a pull secret mounted as the Docker config", artifact: modelpod.Artifact{PullSecret: "registry", PullImage: "mirror.example.com/marina:0.1.0"}, pullImage: "mirror.example.com/marina:0.1.0", dockerConf: true},
		{name: "from a registry without TLS", artifact: modelpod.Artifact{PlainHTTP: true}, pullImage: modelpod.PullImage, extraArgs: []string{"--plain-http"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := modelpod.Pod{Name: "iris", Image: modelpod.ServerImage, Port: 8080, Version: "1.0.0", Format: "onnx", URI: ociURI, Digest: artifactDigest, Artifact: tc.artifact}
			if err := p.Check(); err != nil {
				t.Fatal(err)
			}
			spec := modelpod.Spec(p)
			if len(spec.InitContainers) != 1 {
				t.Fatalf("init containers %+v, want the model pull", spec.InitContainers)
			}
			pull, server := spec.InitContainers[0], spec.Containers[0]
			if want := append([]string{"model", "pull", ociURI, "--dir", "/models"}, tc.extraArgs...); !slices.Equal(pull.Args, want) || pull.Image != tc.pullImage {
				t.Errorf("init container runs %s %q, want %s %q", pull.Image, pull.Args, tc.pullImage, want)
			}
			if !reflect.DeepEqual(pull.SecurityContext, server.SecurityContext) || *pull.SecurityContext.ReadOnlyRootFilesystem != true {
				t.Errorf("init container security %+v, want the server's %+v", pull.SecurityContext, server.SecurityContext)
			}
			if got := command(server); !slices.Contains(got, "--model=/models/v1.0.0.onnx") || !slices.Contains(got, "--digest="+artifactDigest) {
				t.Errorf("server runs %q, want --model=/models/v1.0.0.onnx --digest=%s", got, artifactDigest)
			}
			if pull.VolumeMounts[0].MountPath != "/models" || pull.VolumeMounts[0].ReadOnly || spec.Volumes[0].EmptyDir == nil {
				t.Errorf("init container mounts %+v over volumes %+v, want the /models emptyDir writable", pull.VolumeMounts, spec.Volumes)
			}
			var conf string
			for _, e := range pull.Env {
				if e.Name == "DOCKER_CONFIG" {
					conf = e.Value
				}
			}
			secret := spec.Volumes[len(spec.Volumes)-1].Secret
			if tc.dockerConf != (conf != "") || tc.dockerConf && (secret == nil || secret.SecretName != "registry" || secret.Items[0] != corev1.KeyToPath{Key: ".dockerconfigjson", Path: "config.json"}) {
				t.Errorf("DOCKER_CONFIG %q, volumes %+v; want the secret's config.json only with a pull secret", conf, spec.Volumes)
			}
			if len(spec.ImagePullSecrets) != 0 {
				t.Errorf("imagePullSecrets %+v: the init container reads the registry's credentials itself", spec.ImagePullSecrets)
			}
		})
	}
}

func TestAnImageVolumeMountsTheArtifactReadOnlyPinnedByDigest(t *testing.T) {
	t.Parallel()
	p := modelpod.Pod{Name: "iris", Image: modelpod.ServerImage, Port: 8080, Version: "1.0.0", Format: "onnx", URI: ociURI, Digest: artifactDigest,
		Artifact: modelpod.Artifact{Via: modelpod.ViaImageVolume, PullSecret: "registry"}}
	if err := p.Check(); err != nil {
		t.Fatal(err)
	}
	spec := modelpod.Spec(p)
	want := corev1.ImageVolumeSource{Reference: strings.TrimPrefix(ociURI, "oci://"), PullPolicy: corev1.PullIfNotPresent}
	if len(spec.InitContainers) != 0 || spec.Volumes[0].Image == nil || *spec.Volumes[0].Image != want {
		t.Fatalf("init containers %+v, volumes %+v; want only the image volume %+v", spec.InitContainers, spec.Volumes, want)
	}
	server := spec.Containers[0]
	if m := server.VolumeMounts[0]; m.MountPath != "/models" || !m.ReadOnly {
		t.Errorf("server mounts %+v, want /models read-only", m)
	}
	if got := command(server); !slices.Contains(got, "--model=/models/model/v1.0.0.onnx") {
		t.Errorf("server runs %q, want the file at model/ in the artifact", got)
	}
	if len(spec.ImagePullSecrets) != 1 || spec.ImagePullSecrets[0].Name != "registry" {
		t.Errorf("imagePullSecrets %+v: the kubelet pulls the image volume with them", spec.ImagePullSecrets)
	}
}

func TestAPodThatCannotBeBuiltIsRefusedWithTheFix(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, uri, via, want string
	}{
		{"an image volume of a tag", "oci://r.example.com/m:1.0.0", modelpod.ViaImageVolume, "not pinned by digest"},
		{"an unknown way", ociURI, "sidecar", `"sidecar": use initContainer (the default) or imageVolume`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := modelpod.Pod{URI: tc.uri, Artifact: modelpod.Artifact{Via: tc.via}}.Check()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Check() = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestTheServerLoadsTheFileMarinaModelPushRecorded(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, file, via, want string
	}{
		{"artifact.file, pulled", "iris.onnx", "", "/models/iris.onnx"},
		{"artifact.file, mounted", "iris.onnx", modelpod.ViaImageVolume, "/models/model/iris.onnx"},
		{"no artifact.file: v<version> and the format's extension", "", "", "/models/v1.0.0.onnx"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := modelpod.Pod{Version: "1.0.0", Format: "onnx", URI: ociURI, File: tc.file, Artifact: modelpod.Artifact{Via: tc.via}}
			if got := p.ModelPath(); got != tc.want {
				t.Fatalf("ModelPath() = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestAFileArtifactIsServedFromItsPathWithoutAnInitContainer(t *testing.T) {
	t.Parallel()
	spec := modelpod.Spec(modelpod.Pod{Name: "iris", Image: "i", Port: 8080, Version: "1.0.0", URI: "https://models.example.com/iris.onnx", Digest: artifactDigest})
	if len(spec.InitContainers) != 0 || spec.Volumes[0].EmptyDir == nil {
		t.Fatalf("init containers %+v, volumes %+v", spec.InitContainers, spec.Volumes)
	}
	if got := command(spec.Containers[0]); !slices.Contains(got, "--model=https://models.example.com/iris.onnx") {
		t.Fatalf("server runs %q", got)
	}
}
