//go:build e2e

package node

import (
	"testing"

	"github.com/marina-dev/marina/internal/testenv"
)

// marina is the binary the tests run as a user would (marina init, register, promote, doctor).
var marina string

func TestMain(m *testing.M) { testenv.MainWithMarina(m, &marina) }
