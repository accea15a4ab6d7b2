package crash

import (
	"testing"

	"github.com/marina-dev/marina/internal/testenv"
)

var marina string

func TestMain(m *testing.M) { testenv.MainWithMarina(m, &marina) }
