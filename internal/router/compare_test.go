package router

import (
	"errors"
	"math"
	"testing"
	"time"
)

func answerOIP(data string) Response {
	return Response{Status: 200, Body: []byte(`{"model_name":"m","model_version":"v","outputs":[` + data + `]}`)}
}

func TestCompare(t *testing.T) {
	t.Parallel()
	probs := func(data string) string {
		return `{"name":"probabilities","shape":[2,3],"datatype":"FP32","data":` + data + `}`
	}
	label := `{"name":"label","shape":[2,1],"datatype":"INT64","data":[1,2]}`
	for _, tc := range []struct {
		name            string
		protocol        string
		primary, shadow Response
		want            Result
		rows, agree     int
		maxAbs, maxRel  float64
		disagrees       bool
	}{
		{name: "identical outputs match exactly whatever the model version says", primary: answerOIP(probs(`[0.1,0.7,0.2,0.5,0.3,0.2]`)),
			shadow: Response{Status: 200, Body: []byte(`{"model_name":"m","model_version":"other","id":"x","outputs":[` + probs(`[[0.1,0.7,0.2],[0.5,0.3,0.2]]`) + `]}`)},
			want:   ResultExact, rows: 2, agree: 2},
		{name: "small numeric differences with the same classes differ but agree", primary: answerOIP(probs(`[0.1,0.7,0.2,0.5,0.3,0.2]`)),
			shadow: answerOIP(probs(`[0.1,0.6,0.3,0.5,0.3,0.2]`)), want: ResultDiffers, rows: 2, agree: 2, maxAbs: 0.1, maxRel: 0.1 / 0.3},
		{name: "a row whose argmax moves disagrees", primary: answerOIP(probs(`[0.1,0.7,0.2,0.5,0.3,0.2]`)),
			shadow: answerOIP(probs(`[0.1,0.7,0.2,0.2,0.3,0.5]`)), want: ResultDiffers, rows: 2, agree: 1, maxAbs: 0.3, maxRel: 0.6, disagrees: true},
		{name: "integer label columns compare as classes", primary: answerOIP(label), shadow: answerOIP(`{"name":"label","shape":[2,1],"datatype":"INT64","data":[1,0]}`),
			want: ResultDiffers, rows: 2, agree: 1, maxAbs: 2, maxRel: 1, disagrees: true},
		{name: "outputs are matched by name, not position", primary: answerOIP(label + "," + probs(`[1,0,0,0,1,0]`)),
			shadow: answerOIP(probs(`[1,0,0,0,1,0]`) + "," + label), want: ResultExact, rows: 4, agree: 4},
		{name: "a different datatype is a dtype mismatch", primary: answerOIP(probs(`[1,0,0,0,1,0]`)),
			shadow: answerOIP(`{"name":"probabilities","shape":[2,3],"datatype":"FP64","data":[1,0,0,0,1,0]}`), want: ResultDtypeMismatch, disagrees: true},
		{name: "a different shape is a shape mismatch", primary: answerOIP(probs(`[1,0,0,0,1,0]`)),
			shadow: answerOIP(`{"name":"probabilities","shape":[3,2],"datatype":"FP32","data":[1,0,0,0,1,0]}`), want: ResultShapeMismatch, disagrees: true},
		{name: "a missing output is an output mismatch", primary: answerOIP(label + "," + probs(`[1,0,0,0,1,0]`)), shadow: answerOIP(label),
			want: ResultOutputMismatch, disagrees: true},
		{name: "shadow failing where the primary succeeded is an error mismatch", primary: answerOIP(label),
			shadow: Response{Status: 500, Body: []byte(`{"error":"boom"}`)}, want: ResultErrorMismatch, disagrees: true},
		{name: "primary failing where the shadow succeeded is an error mismatch", primary: Response{Err: errors.New("reset")},
			shadow: answerOIP(label), want: ResultErrorMismatch, disagrees: true},
		{name: "both failing is both_error", primary: Response{Status: 400}, shadow: Response{Status: 400}, want: ResultBothError, disagrees: true},
		{name: "a body that is not OIP JSON is unparseable", primary: answerOIP(label), shadow: Response{Status: 200, Body: []byte(`<html>`)},
			want: ResultUnparseable, disagrees: true},
		{name: "a truncated body is not compared", primary: answerOIP(label), shadow: Response{Status: 200, Body: answerOIP(label).Body, Truncated: true},
			want: ResultUnparseable, disagrees: true},
		{name: "scalar outputs (shape []) compare by value", primary: answerOIP(`{"name":"total","shape":[],"datatype":"FP32","data":[10.5]}`),
			shadow: answerOIP(`{"name":"total","shape":[],"datatype":"FP32","data":[10.25]}`), want: ResultDiffers, maxAbs: 0.25, maxRel: 0.25 / 10.5, disagrees: true},
		{name: "a scalar's data may be the bare value", primary: answerOIP(`{"name":"total","shape":[],"datatype":"FP32","data":[10.5]}`),
			shadow: answerOIP(`{"name":"total","shape":[],"datatype":"FP32","data":10.5}`), want: ResultExact},
		{name: "an integer scalar compares as a class", primary: answerOIP(`{"name":"speech","shape":[],"datatype":"INT64","data":[1]}`),
			shadow: answerOIP(`{"name":"speech","shape":[],"datatype":"INT64","data":[0]}`), want: ResultDiffers, rows: 1, maxAbs: 1, maxRel: 1, disagrees: true},
		{name: "a scalar against a one-element vector is a shape mismatch", primary: answerOIP(`{"name":"total","shape":[],"datatype":"FP32","data":[10.5]}`),
			shadow: answerOIP(`{"name":"total","shape":[1],"datatype":"FP32","data":[10.5]}`), want: ResultShapeMismatch, disagrees: true},
		{name: "a changed BYTES label disagrees though the BOOL rows agree", primary: answerOIP(`{"name":"speech","shape":[2],"datatype":"BOOL","data":[true,false]},{"name":"word","shape":[1],"datatype":"BYTES","data":["cat"]}`),
			shadow: answerOIP(`{"name":"speech","shape":[2],"datatype":"BOOL","data":[true,false]},{"name":"word","shape":[1],"datatype":"BYTES","data":["dog"]}`), want: ResultDiffers, rows: 3, agree: 2, disagrees: true},
		{name: "KServe v1 rows of scores compare by argmax", protocol: ProtocolKServeV1,
			primary: Response{Status: 200, Body: []byte(`{"predictions":[[0.9,0.1],[0.2,0.8],[0.6,0.4]]}`)},
			shadow:  Response{Status: 200, Body: []byte(`{"predictions":[[0.8,0.2],[0.2,0.8],[0.4,0.6]]}`)},
			want:    ResultDiffers, rows: 3, agree: 2, maxAbs: 0.2, maxRel: 0.5, disagrees: true},
		{name: "KServe v1 integer labels compare as classes", protocol: ProtocolKServeV1,
			primary: Response{Status: 200, Body: []byte(`{"predictions":[1,0,2]}`)}, shadow: Response{Status: 200, Body: []byte(`{"predictions":[1,0,2]}`)},
			want: ResultExact, rows: 3, agree: 3},
		{name: "KServe v1 predictions of another shape are a shape mismatch", protocol: ProtocolKServeV1,
			primary: Response{Status: 200, Body: []byte(`{"predictions":[[1,2]]}`)}, shadow: Response{Status: 200, Body: []byte(`{"predictions":[1,2]}`)},
			want: ResultShapeMismatch, disagrees: true},
		{name: "KServe v1 dictionaries compare as JSON", protocol: ProtocolKServeV1,
			primary: Response{Status: 200, Body: []byte(`{"predictions":[{"label":"cat","score":0.9}]}`)},
			shadow:  Response{Status: 200, Body: []byte(`{"predictions":[{"score":0.9,"label":"cat"}]}`)}, want: ResultExact},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			protocol := tc.protocol
			if protocol == "" {
				protocol = ProtocolOIPv2
			}
			tc.shadow.Latency, tc.primary.Latency = 30*time.Millisecond, 10*time.Millisecond
			c := Compare(protocol, tc.primary, tc.shadow)
			if c.Result != tc.want || c.ArgmaxRows != tc.rows || c.ArgmaxAgree != tc.agree {
				t.Errorf("got %s with %d/%d rows agreeing, want %s with %d/%d", c.Result, c.ArgmaxAgree, c.ArgmaxRows, tc.want, tc.agree, tc.rows)
			}
			if math.Abs(c.MaxAbs-tc.maxAbs) > 1e-9 || math.Abs(c.MaxRel-tc.maxRel) > 1e-9 {
				t.Errorf("max abs %v rel %v, want %v and %v", c.MaxAbs, c.MaxRel, tc.maxAbs, tc.maxRel)
			}
			if c.Disagrees() != tc.disagrees {
				t.Errorf("Disagrees() = %v, want %v", c.Disagrees(), tc.disagrees)
			}
			if c.LatencyDelta != 20*time.Millisecond {
				t.Errorf("latency delta %v, want 20ms", c.LatencyDelta)
			}
		})
	}
}

// FuzzCompare feeds arbitrary response bodies to both parsers: no panic, comparing a body with itself is exact unless
// it is unparseable, and the result is always one of Results.
func FuzzCompare(f *testing.F) {
	for _, seed := range []string{
		`{"outputs":[{"name":"p","shape":[1,2],"datatype":"FP32","data":[0.1,0.9]}]}`,
		`{"outputs":[{"name":"p","shape":[2],"datatype":"BYTES","data":["a","b"]},{"name":"q","shape":[1],"datatype":"BOOL","data":[true]}]}`,
		`{"outputs":[{"name":"p","shape":[1,2],"datatype":"FP32","data":[[0.1],[0.9]]}]}`,
		`{"predictions":[[0.1,0.9],[0.5,0.5]]}`, `{"predictions":[{"a":1}]}`, `{"predictions":[[1],[2,3]]}`,
		`{"outputs":[{"name":"p","shape":[],"datatype":"INT64","data":16000}]}`,
		`{"predictions":1e400}`, `{"outputs":null}`, `[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]`,
	} {
		f.Add(seed, seed)
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		for _, protocol := range []string{ProtocolOIPv2, ProtocolKServeV1} {
			pa, pb := Response{Status: 200, Body: []byte(a)}, Response{Status: 200, Body: []byte(b)}
			if c := Compare(protocol, pa, pa); c.Result != ResultExact && c.Result != ResultUnparseable {
				t.Errorf("%s: %q against itself: %s", protocol, a, c.Result)
			}
			c := Compare(protocol, pa, pb)
			known := false
			for _, r := range Results {
				known = known || r == c.Result
			}
			if !known || c.ArgmaxAgree > c.ArgmaxRows || c.MaxAbs < 0 || math.IsNaN(c.MaxAbs) || math.IsNaN(c.MaxRel) {
				t.Errorf("%s: %q vs %q: %+v", protocol, a, b, c)
			}
		}
	})
}

// FuzzWellFormed checks the fast path of checkResponse against the decode it stands in for: whatever it accepts, the
// decode accepts too.
func FuzzWellFormed(f *testing.F) {
	for _, seed := range []string{
		`{"model_name":"iris","outputs":[{"name":"p","shape":[1,2],"datatype":"FP32","data":[0.1,0.9]}]}`,
		`{"outputs":[{"name":"a","shape":[],"datatype":"BYTES","data":["x"]},{"name":"b","shape":[-1],"datatype":"INT64","data":[[1]],"parameters":{"k":"\"v"}}]}`,
		`{"outputs":[]}`, `{"outputs":null}`, `{"Outputs":[{"name":"p","shape":[1],"datatype":"FP32","data":[1]}]}`,
		`{"outputs":[{"name":"p","name":"","shape":[1],"datatype":"FP32","data":[1]}]}`,
		`{"outputs":[{"name":"p","shape":[1.5],"datatype":"FP32","data":[1]}]}`,
		`{"outputs":[{"name":"p","shape":[99999999999999999999],"datatype":"FP32","data":[1]}]}`,
		`{"predictions":[[0.1,0.9]]}`, `{"predictions":null}`, `{"pr\u0065dictions":[1]}`, `[1]`, `null`, `{}`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body string) {
		if wellFormed(ProtocolOIPv2, []byte(body)) {
			if _, err := decodeOIP([]byte(body)); err != nil {
				t.Errorf("fast path accepts %q as OIP v2, the decode does not: %v", body, err)
			}
		}
		if wellFormed(ProtocolKServeV1, []byte(body)) {
			if _, err := decodeKServe([]byte(body)); err != nil {
				t.Errorf("fast path accepts %q as KServe v1, the decode does not: %v", body, err)
			}
		}
	})
}

func TestTheFastPathTakesTheProtocolsUsualAnswers(t *testing.T) {
	t.Parallel()
	for protocol, body := range map[string]string{
		ProtocolOIPv2:    `{"model_name":"iris","model_version":"1","outputs":[{"name":"probabilities","shape":[1,2],"datatype":"FP32","data":[0.1,0.9],"parameters":{}}]}`,
		ProtocolKServeV1: ` {"predictions": [[0.1, 0.9]]} `,
	} {
		if !wellFormed(protocol, []byte(body)) {
			t.Errorf("%s: %s takes the slow path", protocol, body)
		}
	}
	for _, body := range []string{`{"outputs":[{"name":"","shape":[1],"datatype":"FP32","data":[1]}]}`, `{"outputs":[{"name":"p","shape":[1],"datatype":"FP32"}]}`, `{"x":1}`} {
		if wellFormed(ProtocolOIPv2, []byte(body)) {
			t.Errorf("%s passes the fast path", body)
		}
	}
}
