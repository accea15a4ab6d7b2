package supervisor

import (
	"strings"
	"testing"
)

func TestPinRuntimePointsModelYAMLAtTheSandboxsImages(t *testing.T) {
	t.Parallel()
	const serve, pull = "10.0.0.2:5000/marina/marina-serve@sha256:aa", "10.0.0.2:5000/marina/marina@sha256:bb"
	want := "  runtime:\n    image: " + serve + "\n    artifact: {pullImage: " + pull + ", plainHTTP: true}\n    port: 8080\n"
	for _, tc := range []struct {
		name, in, want, err string
	}{
		{name: "the example's release tag", in: "spec:\n  runtime:\n    image: ghcr.io/marina-dev/marina-serve:0.1.0\n    port: 8080\n",
			want: "spec:\n" + want},
		{name: "an artifact line already there is replaced",
			in: "spec:\n  runtime:\n    image: r/x@sha256:cc\n    artifact: {via: imageVolume}\n    port: 8080\n", want: "spec:\n" + want},
		{name: "no runtime image", in: "spec:\n  backend: kserve\n", err: "no spec.runtime.image"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := pinRuntime(tc.in, serve, pull)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("got %q, %v\nwant %q", got, err, tc.want)
			}
		})
	}
}

func TestCostMinutesReadsTheScriptsEstimates(t *testing.T) {
	t.Parallel()
	for cost, want := range map[string]int{"~15 min once": 15, "~1 min once (a 113 MB download)": 1, "": 0, "instant": 0} {
		if got := costMinutes(cost); got != want {
			t.Errorf("costMinutes(%q) = %d, want %d", cost, got, want)
		}
	}
}
