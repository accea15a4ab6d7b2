package router

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/marina-dev/marina/internal/eventually"

	"github.com/marina-dev/marina/internal/oip"
)

// binaryTwin is the answer with the JSON outputs of body (an OIP v2 answer, with parameters.binary_data_size in place
// of data) as the binary tensor data extension sends it, the bytes written with encoding/binary.
func binaryTwin(t testing.TB, body string) Response {
	t.Helper()
	var answer map[string]any
	if err := json.Unmarshal([]byte(body), &answer); err != nil {
		t.Fatal(err)
	}
	var data bytes.Buffer
	for _, o := range answer["outputs"].([]any) {
		out := o.(map[string]any)
		start := data.Len()
		for _, v := range flatten(out["data"]) {
			switch out["datatype"] {
			case "FP32":
				_ = binary.Write(&data, binary.LittleEndian, float32(v.(float64)))
			case "FP64":
				_ = binary.Write(&data, binary.LittleEndian, v.(float64))
			case "INT64":
				_ = binary.Write(&data, binary.LittleEndian, int64(v.(float64)))
			case "INT32":
				_ = binary.Write(&data, binary.LittleEndian, int32(v.(float64)))
			case "BOOL":
				_ = binary.Write(&data, binary.LittleEndian, v.(bool))
			case "BYTES":
				_ = binary.Write(&data, binary.LittleEndian, uint32(len(v.(string))))
				data.WriteString(v.(string))
			default:
				t.Fatalf("datatype %v", out["datatype"])
			}
		}
		delete(out, "data")
		out["parameters"] = map[string]any{"binary_data_size": data.Len() - start}
	}
	head, err := json.Marshal(answer)
	if err != nil {
		t.Fatal(err)
	}
	return Response{Status: 200, Body: append(head, data.Bytes()...), InferenceHeader: strconv.Itoa(len(head))}
}

func flatten(v any) []any {
	list, ok := v.([]any)
	if !ok {
		return []any{v}
	}
	var out []any
	for _, x := range list {
		out = append(out, flatten(x)...)
	}
	return out
}

func TestABinaryAnswerComparesLikeItsJSONTwin(t *testing.T) {
	t.Parallel()
	answer := func(outputs string) string { return `{"model_name":"m","outputs":[` + outputs + `]}` }
	probs := func(data string) string {
		return `{"name":"probabilities","shape":[2,3],"datatype":"FP32","data":` + data + `}`
	}
	label := `{"name":"label","shape":[2,1],"datatype":"INT64","data":[1,2]}`
	for _, tc := range []struct {
		name            string
		primary, shadow string
		want            Result
	}{
		{"the same values are exact", answer(probs(`[0.1,0.7,0.2,0.5,0.3,0.2]`) + "," + label), answer(label + "," + probs(`[[0.1,0.7,0.2],[0.5,0.3,0.2]]`)), ResultExact},
		{"other values differ by as much", answer(probs(`[0.1,0.7,0.2,0.5,0.3,0.2]`)), answer(probs(`[0.1,0.6,0.3,0.2,0.3,0.5]`)), ResultDiffers},
		{"another shape is a shape mismatch", answer(probs(`[1,0,0,0,1,0]`)), answer(`{"name":"probabilities","shape":[3,2],"datatype":"FP32","data":[1,0,0,0,1,0]}`), ResultShapeMismatch},
		{"another datatype is a dtype mismatch", answer(probs(`[1,0,0,0,1,0]`)), answer(`{"name":"probabilities","shape":[2,3],"datatype":"FP64","data":[1,0,0,0,1,0]}`), ResultDtypeMismatch},
		{"another output is an output mismatch", answer(label), answer(`{"name":"other","shape":[2,1],"datatype":"INT64","data":[1,2]}`), ResultOutputMismatch},
		{"BOOL, INT32, BYTES and FP64 compare by value", answer(`{"name":"b","shape":[2],"datatype":"BOOL","data":[true,false]},{"name":"i","shape":[1],"datatype":"INT32","data":[-7]},{"name":"w","shape":[2],"datatype":"BYTES","data":["cat","émeu"]},{"name":"d","shape":[1],"datatype":"FP64","data":[0.1]}`),
			answer(`{"name":"b","shape":[2],"datatype":"BOOL","data":[true,true]},{"name":"i","shape":[1],"datatype":"INT32","data":[-7]},{"name":"w","shape":[2],"datatype":"BYTES","data":["cat","dog"]},{"name":"d","shape":[1],"datatype":"FP64","data":[0.1]}`), ResultDiffers},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, s := Response{Status: 200, Body: []byte(tc.primary)}, Response{Status: 200, Body: []byte(tc.shadow)}
			want := Compare(ProtocolOIPv2, p, s)
			if want.Result != tc.want {
				t.Fatalf("the JSON answers compare as %s, want %s", want.Result, tc.want)
			}
			for name, pair := range map[string][2]Response{
				"binary primary": {binaryTwin(t, tc.primary), s}, "binary shadow": {p, binaryTwin(t, tc.shadow)},
				"both binary": {binaryTwin(t, tc.primary), binaryTwin(t, tc.shadow)},
			} {
				for _, r := range pair {
					if err := checkResponse(ProtocolOIPv2, r.Body, r.InferenceHeader); err != nil {
						t.Fatalf("%s: check: %v", name, err)
					}
				}
				if got := Compare(ProtocolOIPv2, pair[0], pair[1]); got != want {
					t.Errorf("%s: %+v, the JSON answers %+v", name, got, want)
				}
			}
		})
	}
}

func TestTheCheckRefusesBinaryAnswersWhoseSizesDoNotAddUp(t *testing.T) {
	t.Parallel()
	good := binaryTwin(t, `{"outputs":[{"name":"p","shape":[1,2],"datatype":"FP32","data":[0.2,0.8]}]}`)
	for _, tc := range []struct {
		name, header string
		body         []byte
		want         string
	}{
		{"a header that is not a number", "x", good.Body, `"x" is not a number of bytes`},
		{"a header beyond the body", strconv.Itoa(len(good.Body) + 1), good.Body, fmt.Sprintf("%d is more than the body's %d bytes", len(good.Body)+1, len(good.Body))},
		{"a negative header", "-1", good.Body, "-1 is negative"},
		{"bytes missing", good.InferenceHeader, good.Body[:len(good.Body)-1], "binary_data_size 8, 7 bytes left"},
		{"bytes left over", good.InferenceHeader, append(bytes.Clone(good.Body), 0), "1 bytes after the binary outputs"},
		{"a size that does not fit the shape", "", nil, "binary_data_size 8 does not fit shape [1 1] of FP32"},
		{"both data and a size", "", nil, "both data and parameters.binary_data_size"},
		{"a binary output without a header", "", []byte(`{"outputs":[{"name":"p","shape":[1,2],"datatype":"FP32","parameters":{"binary_data_size":8}}]}`), "data are required"},
		{"a size that is not a number", "", nil, "is not a size"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			body, header := tc.body, tc.header
			switch tc.name {
			case "a size that does not fit the shape":
				// The JSON keeps its length: the shape's 2 becomes a 1, the size stays 8 for one FP32.
				body, header = bytes.Replace(good.Body, []byte(`"shape":[1,2]`), []byte(`"shape":[1,1]`), 1), good.InferenceHeader
			case "both data and a size":
				j := `{"outputs":[{"name":"p","shape":[1,2],"datatype":"FP32","data":[1,2],"parameters":{"binary_data_size":8}}]}`
				body, header = append([]byte(j), make([]byte, 8)...), strconv.Itoa(len(j))
			case "a size that is not a number":
				j := `{"outputs":[{"name":"p","shape":[1,2],"datatype":"FP32","parameters":{"binary_data_size":"8"}}]}`
				body, header = append([]byte(j), make([]byte, 8)...), strconv.Itoa(len(j))
			}
			err := checkResponse(ProtocolOIPv2, body, header)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("check: %v, want an error containing %q", err, tc.want)
			}
			if c := Compare(ProtocolOIPv2, Response{Status: 200, Body: body, InferenceHeader: header}, good); c.Result != ResultUnparseable {
				t.Errorf("compared as %s, want unparseable", c.Result)
			}
		})
	}
}

func TestAMirroredBinaryRequestReachesTheShadowWithItsHeader(t *testing.T) {
	t.Parallel()
	const probs = `{"outputs":[{"name":"probabilities","shape":[1,2],"datatype":"FP32","data":[0.25,0.75]}]}`
	type seen struct {
		header string
		body   []byte
	}
	var mu sync.Mutex
	got := map[string]seen{}
	upstream := func(version string, binaryAnswer bool) *httptest.Server {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			mu.Lock()
			got[version] = seen{r.Header.Get(oip.InferenceHeader), b}
			mu.Unlock()
			if !binaryAnswer {
				w.Header().Set("Content-Type", "application/json")
				fmt.Fprint(w, probs)
				return
			}
			answer := binaryTwin(t, probs)
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Header().Set(oip.InferenceHeader, answer.InferenceHeader)
			_, _ = w.Write(answer.Body)
		}))
		t.Cleanup(srv.Close)
		return srv
	}
	primary, shadow := upstream("1.0.0", true), upstream("1.2.0", false)
	rt := startRouter(t, config(fmt.Sprintf("upstreams: [{version: 1.0.0, url: %q, weight: 1}]\nshadow: {version: 1.2.0, url: %q, percent: 100}\n", primary.URL, shadow.URL)), Options{})
	head := `{"inputs":[{"name":"x","shape":[1,1],"datatype":"FP32","parameters":{"binary_data_size":4}}],"outputs":[{"name":"probabilities","parameters":{"binary_data":true}}]}`
	body := binary.LittleEndian.AppendUint32([]byte(head), math.Float32bits(0.75))
	resp, err := client().Do(mustRequest(t, rt.url, string(body), map[string]string{oip.InferenceHeader: strconv.Itoa(len(head))}))
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get(oip.InferenceHeader) != binaryTwin(t, probs).InferenceHeader || !bytes.Equal(answer, binaryTwin(t, probs).Body) {
		t.Fatalf("status %d, %s %q, body %q: the primary's binary answer not passed on as it is", resp.StatusCode, oip.InferenceHeader, resp.Header.Get(oip.InferenceHeader), answer)
	}
	eventually.True(t, 5*time.Second, "the shadow compared", func() bool { return rt.compared("1.0.0", "1.2.0") == 1 })
	mu.Lock()
	defer mu.Unlock()
	for _, version := range []string{"1.0.0", "1.2.0"} {
		if s := got[version]; s.header != strconv.Itoa(len(head)) || !bytes.Equal(s.body, body) {
			t.Errorf("%s got %s %q and body %q, want %d and the client's body", version, oip.InferenceHeader, s.header, s.body, len(head))
		}
	}
	if n := rt.comparisonsOf("1.0.0", "1.2.0", ResultExact); n != 1 {
		t.Errorf("exact comparisons %v, want 1: the binary answer compares like its JSON twin", n)
	}
	if n := testutil.ToFloat64(rt.metrics.upstreamError.WithLabelValues("iris", "1.0.0", "protocol")); n != 0 {
		t.Errorf("protocol errors %v, want none for a well-formed binary answer", n)
	}
}

// FuzzBinaryAnswer: no answer with an Inference-Header-Content-Length panics the check or the comparison; one the
// check accepts compares with itself as exact, or is unparseable for what its values hold.
func FuzzBinaryAnswer(f *testing.F) {
	for _, body := range []string{
		`{"outputs":[{"name":"p","shape":[1,2],"datatype":"FP32","data":[0.2,0.8]}]}`,
		`{"outputs":[{"name":"b","shape":[2],"datatype":"BOOL","data":[true,false]},{"name":"w","shape":[2],"datatype":"BYTES","data":["cat",""]}]}`,
		`{"outputs":[{"name":"i","shape":[1],"datatype":"INT64","data":[7]},{"name":"d","shape":[],"datatype":"FP64","data":[0.5]}]}`,
	} {
		r := binaryTwin(f, body)
		f.Add(r.Body, r.InferenceHeader)
	}
	half := `{"outputs":[{"name":"h","shape":[2],"datatype":"FP16","parameters":{"binary_data_size":4}}]}`
	f.Add([]byte(half+"\x00\x3c\x00\x7c"), strconv.Itoa(len(half))) // 1, +Inf
	f.Fuzz(func(t *testing.T, body []byte, header string) {
		r := Response{Status: 200, Body: body, InferenceHeader: header}
		err := checkResponse(ProtocolOIPv2, body, header)
		c := Compare(ProtocolOIPv2, r, r)
		if err == nil && c.Result != ResultExact && c.Result != ResultUnparseable {
			t.Fatalf("%q (%s) against itself: %s", body, header, c.Result)
		}
		if err != nil && c.Result != ResultUnparseable {
			t.Fatalf("%q (%s): the check says %v, the comparison %s", body, header, err, c.Result)
		}
	})
}
