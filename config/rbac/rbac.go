package rbac

import (
	_ "embed"
	"fmt"

	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"
)

//go:embed role.yaml
var role []byte

// Rules are the controller's permissions.
func Rules() ([]rbacv1.PolicyRule, error) {
	var r rbacv1.ClusterRole
	if err := yaml.UnmarshalStrict(role, &r); err != nil {
		return nil, fmt.Errorf("config/rbac/role.yaml: %w", err)
	}
	return r.Rules, nil
}
