package crash

import (
	"testing"

	"github.com/marina-dev/marina/internal/testenv"
)

var marina string

// The crash tests kill marina at its failpoints, which only a -tags failpoints build has.
func TestMain(m *testing.M) { testenv.MainWithMarina(m, &marina, "-tags", "failpoints") }
