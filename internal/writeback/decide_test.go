package writeback

import (
	"errors"
	"testing"
)

func TestDecide(t *testing.T) {
	t.Parallel()
	req := Request{Model: "m", Env: "prod", BadVersion: "1.1.0", StableVersion: "1.0.0"}
	cases := []struct {
		name    string
		obs     observed
		want    action
		wantErr error
	}{
		{"roll back an environment still on the bad version", observed{envVersion: "1.1.0"}, rollBack, nil},
		{"roll back even when someone already blocked the bad version", observed{envVersion: "1.1.0", badBlocked: true}, rollBack, nil},
		{"do nothing when the environment is back and the version blocked", observed{envVersion: "1.0.0", badBlocked: true}, noOp, nil},
		{"only block when someone already moved the environment back", observed{envVersion: "1.0.0"}, blockOnly, nil},
		{"leave a third version alone", observed{envVersion: "1.2.0", badBlocked: true}, 0, ErrSuperseded},
		{"leave an environment the model no longer runs in alone", observed{}, 0, ErrSuperseded},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got, err := decide(req, c.obs)
			if !errors.Is(err, c.wantErr) || (err == nil && got != c.want) {
				t.Fatalf("decide(%+v) = %v, %v; want %v, %v", c.obs, got, err, c.want, c.wantErr)
			}
		})
	}
}
