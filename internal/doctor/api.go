package doctor

import (
	"fmt"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/version"
)

// MinKubernetesMinor is the oldest Kubernetes 1.x minor version marina supports: the CRDs marina and Gateway API
// install carry CEL validation rules (x-kubernetes-validations), which are GA and always enforced only from 1.29, so
// an older server accepts objects it should refuse; and 1.29 itself is out of upstream support. marina's own tests
// run against a newer control plane (testenv.KubernetesVersion).
const MinKubernetesMinor = 30

// checkAPI asks the server for its version: reachable, and new enough.
func checkAPI(in Input) Check {
	c := Check{Name: CheckAPI, Target: in.Server}
	info, err := in.Discovery.ServerVersion()
	if err != nil {
		c.Status = Fail
		c.Evidence = fmt.Sprintf("GET /version: %v", err)
		c.Fix = "check that the cluster runs and that --kubeconfig/--context point at it (kubectl cluster-info shows the address in use)"
		return c
	}
	return judgeVersion(c, info)
}

// judgeVersion decides the api check from the server's version.
func judgeVersion(c Check, info *version.Info) Check {
	major, minor, ok := parseVersion(info.Major, info.Minor)
	switch {
	case !ok:
		c.Status = Warn
		c.Evidence = fmt.Sprintf("server version %s: cannot read major %q minor %q", info.GitVersion, info.Major, info.Minor)
		c.Fix = fmt.Sprintf("make sure the cluster runs Kubernetes 1.%d or newer", MinKubernetesMinor)
	case major < 1 || major == 1 && minor < MinKubernetesMinor:
		c.Status = Fail
		c.Evidence = fmt.Sprintf("server version %s is older than 1.%d, the oldest marina supports", info.GitVersion, MinKubernetesMinor)
		c.Fix = fmt.Sprintf("upgrade the cluster to Kubernetes 1.%d or newer", MinKubernetesMinor)
	default:
		c.Status = Pass
		c.Evidence = fmt.Sprintf("server version %s (1.%d or newer is supported)", info.GitVersion, MinKubernetesMinor)
	}
	return c
}

// parseVersion reads discovery's major and minor, which some providers suffix with "+" (EKS, GKE).
func parseVersion(major, minor string) (int, int, bool) {
	ma, err1 := strconv.Atoi(strings.TrimSuffix(major, "+"))
	mi, err2 := strconv.Atoi(strings.TrimSuffix(minor, "+"))
	return ma, mi, err1 == nil && err2 == nil
}
