//go:build e2e

package sandbox

import (
	"os"
	"testing"

	"github.com/marina-dev/marina/internal/testenv"
)

// marina is the binary under test, built as make build builds it: CGO_ENABLED=0, as shipped.
var marina string

func TestMain(m *testing.M) {
	if err := os.Setenv("CGO_ENABLED", "0"); err != nil {
		panic(err)
	}
	testenv.MainWithMarina(m, &marina)
}
