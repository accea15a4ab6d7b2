// Command kubeschemas writes internal/kubeschema/builtin/bundle.json.gz, the Kubernetes schemas built into marina,
// from module directories that hack/kubeschemas.sh downloads:
//
//	go run ./hack/kubeschemas -out FILE \
//	    -openapi k8s.io/kubernetes@v1.37.2=DIR/api/openapi-spec/v3 \
//	    -crds sigs.k8s.io/gateway-api@v1.7.0=CRDDIR … \
//	    -gateway-api-experimental sigs.k8s.io/gateway-api@v1.7.0=MODDIR/config/crd/experimental
//
// From the OpenAPI v3 directory it takes the top-level kinds of every stable group version (v1, v2 …; no alpha or
// beta) not listed in -skip-groups; from each CRD directory every served version of every CRD, with the defaults and
// list types the API server applies beside the schema; and Gateway API's experimental channel apart, for projects
// that choose it (spec.gatewayAPI.channel in marina.yaml). The output is
// deterministic: the same inputs give the same bytes.
package main
