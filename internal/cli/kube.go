package cli

import (
	"github.com/spf13/pflag"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// kubeOptions are the cluster flags of the commands that talk to Kubernetes, as kubectl spells them.
type kubeOptions struct {
	kubeconfig string
	context    string
	namespace  string
}

func (o *kubeOptions) AddFlags(fs *pflag.FlagSet) {
	o.addClusterFlags(fs)
	fs.StringVarP(&o.namespace, "namespace", "n", "", "namespace for objects that name none (default: the context's, then default)")
}

// addClusterFlags adds the flags that choose the cluster, for a command whose namespace comes from elsewhere.
func (o *kubeOptions) addClusterFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "path of the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)")
	fs.StringVar(&o.context, "context", "", "kubeconfig context to use (default: the current context)")
}

// restConfig loads the client configuration and the default namespace the way kubectl does. Its errors are
// environment errors (exit 2) and never carry credentials.
func (o *kubeOptions) restConfig() (*rest.Config, string, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if o.kubeconfig != "" {
		rules.ExplicitPath = o.kubeconfig
	}
	overrides := &clientcmd.ConfigOverrides{CurrentContext: o.context}
	if o.namespace != "" {
		overrides.Context.Namespace = o.namespace
	}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides)
	cfg, err := cc.ClientConfig()
	if clientcmd.IsEmptyConfig(err) {
		return nil, "", usagef("no kubeconfig found (no --kubeconfig, $KUBECONFIG unset or empty, no ~/.kube/config): pass --kubeconfig FILE or set KUBECONFIG to reach a cluster")
	}
	if err != nil {
		return nil, "", usagef("kubeconfig: %v (pass --kubeconfig or --context, or set KUBECONFIG)", err)
	}
	ns, _, err := cc.Namespace()
	if err != nil {
		return nil, "", usagef("kubeconfig: %v", err)
	}
	cfg.UserAgent = "marina/" + currentVersion().Version
	// client-go's default of 5 requests/s throttles a dry run of a few hundred objects to a minute; requests are
	// bounded by --concurrency anyway.
	cfg.QPS, cfg.Burst = 100, 200
	return cfg, ns, nil
}
