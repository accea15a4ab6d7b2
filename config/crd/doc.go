// Package crd embeds marina's CustomResourceDefinitions (bases/, written by hack/gen-api.sh from api/), so the
// marina binary can validate its own kinds offline and install them.
package crd
