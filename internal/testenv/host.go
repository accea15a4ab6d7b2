package testenv

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
)

// HostState is what a real node may leave behind on the host: it must be the same before and after one.
type HostState struct {
	netns, mounts, cgroups, links, procs, iptables string
}

// SnapshotHost records the host's HostState: named network namespaces, mount points, kubepods cgroups, network
// links, the node's processes (containerd, its shims, kubelet, kube-proxy, pause) and iptables rules. Take it while
// holding the host (HoldHost), so that no other real node comes and goes between two snapshots.
func SnapshotHost() HostState {
	run := func(name string, args ...string) string {
		b, _ := exec.Command(name, args...).Output()
		return string(b)
	}
	var s HostState
	entries, _ := os.ReadDir("/run/netns")
	for _, e := range entries {
		s.netns += e.Name() + "\n"
	}
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	for line := range strings.SplitSeq(string(mi), "\n") {
		if f := strings.Fields(line); len(f) > 4 {
			s.mounts += f[4] + "\n"
		}
	}
	cg, _ := filepath.Glob("/sys/fs/cgroup/*/kubepods")
	s.cgroups = strings.Join(cg, "\n")
	s.links = run("ip", "-br", "link")
	// The node's processes; not other packages' control planes (the same multi-call binary), which come and go.
	for _, p := range procNames() {
		switch p {
		case "containerd-shim-runc-v2", "containerd", "kubelet", "kube-proxy", "pause":
			s.procs += p + "\n"
		}
	}
	// Rules and user-defined chains; not comments (they carry the time), counters, or the built-in chains of an
	// empty table (iptables' nftables backend keeps a table once it was used).
	for _, save := range []string{"iptables-save", "ip6tables-save"} {
		for line := range strings.SplitSeq(run(save), "\n") {
			if strings.HasPrefix(line, "-A ") || strings.HasPrefix(line, ":") && !builtinChain.MatchString(line) {
				s.iptables += line + "\n"
			}
		}
	}
	return s
}

var builtinChain = regexp.MustCompile(`^:(PREROUTING|INPUT|FORWARD|OUTPUT|POSTROUTING) `)

// Diff says, one entry per kind, what differs between s (before) and after.
func (s HostState) Diff(after HostState) []string {
	var out []string
	for _, d := range []struct{ what, before, after string }{
		{"network namespaces", s.netns, after.netns},
		{"mounts", s.mounts, after.mounts},
		{"kubepods cgroups", s.cgroups, after.cgroups},
		{"network links", s.links, after.links},
		{"node processes", s.procs, after.procs},
		{"iptables rules", s.iptables, after.iptables},
	} {
		if d.before != d.after {
			out = append(out, fmt.Sprintf("%s changed:\nbefore:\n%s\nafter:\n%s", d.what, d.before, d.after))
		}
	}
	return out
}

// procNames are the names processes were started by (argv[0]'s base: the multi-call binary's kubelet and
// kube-proxy are told apart by it).
func procNames() []string {
	var names []string
	cmdlines, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, c := range cmdlines {
		if b, err := os.ReadFile(c); err == nil && len(b) > 0 {
			names = append(names, filepath.Base(string(bytes.SplitN(b, []byte{0}, 2)[0])))
		}
	}
	return names
}
